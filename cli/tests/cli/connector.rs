//! `relay-link connector`: the test connector on the command line.

use crate::harness::*;

const REGISTERED: &str = "gw-known";

fn start(listen: &str) -> Proc {
    Proc::spawn_with_env(
        &["connector", "--listen", listen],
        &[("RELAY_LINK_CONNECTOR_SECRETS", &format!("{REGISTERED}=x"))],
    )
}

#[test]
fn a_command_for_an_unregistered_gateway_is_warned_about() {
    let mut proc = start("127.0.0.1:0");
    proc.wait_line("the url line", |l| l.contains(" url "));
    proc.send_line(&format!(r#"push {REGISTERED} {{"text":"fine"}}"#));
    proc.wait_line("the known push", |l| l.starts_with("push to gw-known"));
    proc.send_line(r#"push gw-typo {"text":"lost"}"#);
    proc.wait_line("the unknown push", |l| l.starts_with("push to gw-typo"));
    let stderr = proc.wait_stderr("gw-typo");
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    assert!(
        stderr.contains("not a registered gateway") && stderr.contains(REGISTERED),
        "{stderr}"
    );
    assert!(!stderr.contains("=x"), "no secret in the warning: {stderr}");
}

#[test]
fn the_printed_url_is_the_bound_address_not_port_zero() {
    let mut proc = start("127.0.0.1:0");
    let line = proc.wait_line("the url line", |l| l.contains(" url "));
    let url = line
        .split(" url ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a url");
    let port: u16 = url
        .strip_prefix("ws://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not ws://127.0.0.1:PORT: {line}"));
    assert_ne!(port, 0, "{line}");
    let example = proc.wait_line("the example", |l| l.contains("relay-link connect"));
    assert!(
        example.contains(&format!("--url {url} --gateway-id {REGISTERED}")),
        "{example}"
    );
    // A gateway can dial it.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the url's port is listening");
}

#[test]
fn a_listen_address_that_is_not_loopback_is_warned_about() {
    // TEST-NET-1 (RFC 5737): no interface has it, so nothing is exposed
    // (the bind fails after the warning).
    let mut proc = start("192.0.2.1:0");
    let stderr = proc.wait_stderr("not a loopback address");
    assert!(stderr.contains("--listen 192.0.2.1:0"), "{stderr}");

    let mut proc = start("127.0.0.1:0");
    proc.wait_line("the url line", |l| l.contains(" url "));
    assert!(!proc.stderr().contains("loopback"), "{}", proc.stderr());
}
