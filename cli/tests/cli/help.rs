//! `--help` documents what a user cannot guess: the environment variables,
//! the stdin format, the JSON events and the exit codes.

use crate::harness::*;

/// `relay-link ARGS` exits 0 and returns its stdout.
fn help(args: &[&str]) -> String {
    let mut proc = Proc::spawn(args, None, None);
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{args:?}: {}", proc.stderr());
    proc.stdout.join("\n")
}

#[test]
fn connect_help_documents_the_environment_stdin_events_and_exit_codes() {
    let text = help(&["connect", "--help"]);
    for expected in [
        "RELAY_LINK_SECRET",
        "RELAY_LINK_LOG",
        r#"{"op":"send","#,
        r#""platform""#,
        "at_ms",
        "state",
        "reason",
        "retry_in_ms",
        "inbound",
        "outbound_result",
        "interrupt_inbound",
        "passthrough",
        "fatal",
        "Exit codes",
        "  0  stopped on request",
        "  2  bad usage or configuration",
        "  3  relay disabled",
        "--ca-file <PATH>",
        "--tls-roots <ROOTS>",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(!text.contains("--secret"), "the refused flag is hidden");
}

#[test]
fn the_top_level_help_names_every_environment_variable() {
    let text = help(&["--help"]);
    for expected in [
        "RELAY_LINK_SECRET",
        "RELAY_LINK_LOG",
        "RELAY_LINK_CONNECTOR_SECRETS",
        "Exit codes",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}

#[test]
fn connector_help_documents_its_secrets_variable_and_command_language() {
    let text = help(&["connector", "--help"]);
    for expected in [
        "RELAY_LINK_CONNECTOR_SECRETS",
        "GW=SECRET",
        "revoke GW",
        "expire GW",
        "drop GW",
        "stall GW",
        "push GW <json>",
        "list",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}
