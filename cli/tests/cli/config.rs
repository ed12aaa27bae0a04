//! Bad usage and bad configuration: exit 2, nothing dialed.

use std::path::Path;
use std::time::Duration;

use crate::harness::*;

#[test]
fn a_gateway_id_containing_a_colon_exits_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let mut proc = Proc::spawn(
        &["connect", "--json", "--url", &url, "--gateway-id", "gw:1"],
        Some(SECRET),
        None,
    );
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(2));
    assert!(
        proc.stdout.is_empty(),
        "nothing on stdout: {:?}",
        proc.stdout
    );
    let stderr = proc.stderr();
    assert!(stderr.contains("gateway"), "the problem is named: {stderr}");
    assert_no_credentials("stderr", &stderr);
    // Give a dial that was (wrongly) made time to be accepted and recorded.
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty(), "{:#?}", connector.seen());
}

#[test]
fn other_bad_configurations_exit_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let unwritable = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("no-such-dir")
        .join("trace.jsonl");
    let unwritable = unwritable.to_string_lossy().into_owned();
    for extra in [
        vec!["--identity", "no-colon"],
        vec!["--identity", ":b1"],
        vec!["--backoff-base-ms", "500", "--backoff-max-ms", "100"],
        vec!["--record", unwritable.as_str()],
    ] {
        let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
        args.extend_from_slice(&extra);
        let mut proc = Proc::spawn(&args, Some(SECRET), None);
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{extra:?}: {}", proc.stderr());
        assert!(proc.stdout.is_empty(), "{extra:?}: {:?}", proc.stdout);
        assert!(!proc.stderr().is_empty(), "{extra:?}: the problem is shown");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty(), "{:#?}", connector.seen());
}

#[test]
fn a_bad_flag_exits_2_and_the_secret_is_not_a_flag() {
    let connector = connector();
    let url = connector.url();
    for args in [
        vec!["connect", "--url", url.as_str(), "--no-such-flag"],
        vec!["connect", "--url", url.as_str(), "--secret", SECRET],
        vec![
            "connect",
            "--url",
            url.as_str(),
            "--backoff-base-ms",
            "soon",
        ],
        vec!["connect"],
        vec!["no-such-subcommand"],
    ] {
        let mut proc = Proc::spawn(&args, None, None);
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {}", proc.stderr());
        assert!(proc.stdout.is_empty(), "{args:?}: {:?}", proc.stdout);
        assert!(
            !proc.stderr().is_empty(),
            "{args:?}: the usage error is shown"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty());
}
