//! Bad usage and bad configuration: exit 2, nothing dialed.

use std::path::Path;
use std::time::Duration;

use relay_link::testing::Connector;

use crate::harness::*;

/// Runs `relay-link ARGS`, which must exit 2 with nothing on stdout and
/// the problem on stderr; returns stderr.
fn refused(args: &[&str], secret: Option<&str>) -> String {
    let mut proc = Proc::spawn(args, secret, None);
    let status = proc.wait_exit(WAIT);
    let stderr = proc.stderr();
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(proc.stdout.is_empty(), "{args:?}: {:?}", proc.stdout);
    assert!(!stderr.is_empty(), "{args:?}: the problem is shown");
    stderr
}

/// The arguments `connect --json --url URL`, then `extra`; as
/// [`GW`] unless `extra` names a gateway.
fn connect_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["connect", "--json", "--url", url];
    if !extra.contains(&"--gateway-id") {
        args.extend_from_slice(&["--gateway-id", GW]);
    }
    args.extend_from_slice(extra);
    args
}

/// A trace path in a directory that does not exist.
fn unwritable_path() -> String {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("no-such-dir")
        .join("trace.jsonl")
        .to_string_lossy()
        .into_owned()
}

/// Nothing dialed: gives a dial that was (wrongly) made time to be
/// accepted and recorded, then checks there was none.
fn assert_no_dial(connector: &Connector) {
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty(), "{:#?}", connector.seen());
}

#[test]
fn a_gateway_id_containing_a_colon_exits_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let stderr = refused(&connect_args(&url, &["--gateway-id", "gw:1"]), Some(SECRET));
    assert!(stderr.contains("gateway"), "the problem is named: {stderr}");
    assert_no_credentials("stderr", &stderr);
    assert_no_dial(&connector);
}

#[test]
fn other_bad_configurations_exit_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let unwritable = unwritable_path();
    for extra in [
        vec!["--identity", "no-colon"],
        vec!["--identity", ":b1"],
        vec!["--backoff-base-ms", "500", "--backoff-max-ms", "100"],
        vec!["--record", unwritable.as_str()],
    ] {
        refused(&connect_args(&url, &extra), Some(SECRET));
    }
    assert_no_dial(&connector);
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
        refused(&args, None);
    }
    assert_no_dial(&connector);
}

#[test]
fn an_unwritable_record_path_is_refused_naming_the_flag_and_the_path() {
    let connector = connector();
    let url = connector.url();
    let unwritable = unwritable_path();
    let stderr = refused(
        &connect_args(&url, &["--record", unwritable.as_str()]),
        Some(SECRET),
    );
    assert!(
        stderr.contains(&format!("--record {unwritable}: ")),
        "{stderr}"
    );
    // The demo has printed its first steps by then: only its exit and
    // its error are checked.
    let mut demo = Proc::spawn(&["demo", "--record", unwritable.as_str()], None, None);
    let status = demo.wait_exit(WAIT);
    let stderr = demo.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--record {unwritable}: ")),
        "{stderr}"
    );
    assert_no_dial(&connector);
}

#[test]
fn the_secret_flag_is_refused_first_whatever_else_is_wrong() {
    for args in [
        vec!["connect", "--secret", "s3cret-on-the-command-line"],
        vec![
            "connect",
            "--secret=s3cret-on-the-command-line",
            "--json=yes",
        ],
        vec![
            "connect",
            "--no-such-flag",
            "--secret",
            "s3cret-on-the-command-line",
        ],
    ] {
        let stderr = refused(&args, None);
        assert!(stderr.contains("RELAY_LINK_SECRET"), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret-on-the-command-line"), "{stderr}");
    }
}

#[test]
fn configuration_errors_name_the_flag_and_its_value() {
    let connector = connector();
    let url = connector.url();
    for (extra, expected) in [
        (
            vec!["--ping-interval-ms", "60000", "--idle-timeout-ms", "60000"],
            "--ping-interval-ms 60000 must be less than --idle-timeout-ms 60000",
        ),
        (
            vec!["--backoff-base-ms", "500", "--backoff-max-ms", "100"],
            "--backoff-max-ms 100 must be at least --backoff-base-ms 500",
        ),
        (
            vec!["--connect-timeout-ms", "0"],
            "--connect-timeout-ms 0 must be greater than zero",
        ),
        (
            vec!["--gateway-id", "gw:2"],
            r#"--gateway-id "gw:2" must not contain ':'"#,
        ),
    ] {
        let stderr = refused(&connect_args(&url, &extra), Some(SECRET));
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let stderr = refused(&["connect", "--url", "ftp://connector.example"], None);
    assert!(
        stderr.contains(r#"--url "ftp://connector.example""#),
        "{stderr}"
    );
    assert_no_dial(&connector);
}

#[test]
fn a_secret_flag_is_refused_with_a_pointer_to_the_environment_variable() {
    let connector = connector();
    let url = connector.url();
    let dashed = format!("-{SECRET}");
    let joined = format!("--secret={SECRET}");
    for given in [
        vec!["--secret", SECRET],
        vec!["--secret", dashed.as_str()],
        vec![joined.as_str()],
        vec!["--secret"],
    ] {
        let stderr = refused(&connect_args(&url, &given), None);
        assert!(
            stderr.contains("--secret") && stderr.contains("RELAY_LINK_SECRET"),
            "{given:?}: {stderr}"
        );
        assert_no_credentials("stderr", &stderr);
    }
    assert_no_dial(&connector);
}

#[test]
fn a_gateway_id_without_a_secret_is_warned_about_and_still_dials() {
    let connector = connector();
    let url = connector.url();
    let mut proc = Proc::spawn(&connect_args(&url, FAST), None, None);
    let stderr = proc.wait_stderr("warning");
    assert!(
        stderr.contains("--gateway-id") && stderr.contains("RELAY_LINK_SECRET"),
        "{stderr}"
    );
    wait_seen(&connector, "the unauthenticated dial", |s| {
        s.dials.iter().any(|d| !d.auth_header_present)
    });
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));

    // With the secret: no warning.
    let mut proc = Proc::connect(&connector, &[]);
    proc.wait_state("handshaken");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
    let stderr = proc.stderr();
    assert!(!stderr.contains("warning"), "{stderr}");
}
