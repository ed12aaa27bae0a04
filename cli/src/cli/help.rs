//! The long texts of `--help`: environment variables, standard input,
//! output and exit codes (contract §8).

/// The connector's command language, one line per command (`help` prints
/// it; `relay-link connector --help` shows it too).
macro_rules! connector_commands {
    () => {
        "commands:
  revoke GW            4401 unauthorized now and on every later dial
  reinstate GW         undo revoke
  expire GW            4401 expired (open connection now, else next dial)
  drop GW              drop the TCP connection without a close frame
  stall GW / unstall GW  stop / resume reading and answering
  push GW <json>       deliver an inbound event (buffered if offline/idle)
  list                 gateways seen, open connections, buffered deliveries
  help                 this text"
    };
}

/// The connector's command language (its `help` command).
pub(crate) const CONNECTOR_COMMANDS: &str = connector_commands!();

/// After `relay-link --help`.
pub(crate) const MAIN: &str = "\
Environment:
  RELAY_LINK_SECRET             connect: the gateway's secret (never a flag)
  RELAY_LINK_LOG                log filter for stderr (default: warn)
  RELAY_LINK_CONNECTOR_SECRETS  connector: the gateways it accepts, GW=SECRET,...

Exit codes (connect): 0 stopped on request, 2 bad usage or configuration
(nothing dialed), 3 relay disabled (credential revoked).

`relay-link <COMMAND> --help` says more about each command.";

/// After `relay-link connect --help`.
pub(crate) const CONNECT: &str = "\
Environment:
  RELAY_LINK_SECRET  The gateway's secret. With --gateway-id, every dial carries
                     a fresh upgrade token signed with it. It is read from the
                     environment only: command lines show in `ps` and in shell
                     history. Never printed, logged or recorded.
  RELAY_LINK_LOG     Log filter for stderr (tracing's EnvFilter syntax, e.g.
                     `relay_link=debug`); default `warn`.
  NO_COLOR           No colors in the timeline.

Standard input:
  One JSON object per line: an outbound action with a string \"op\", e.g.
    {\"op\":\"send\",\"text\":\"hello\",\"platform\":\"discord\"}
  A top-level \"platform\" routes the action to that identity (it is moved out of
  the action). A line that is not such an object is reported on stderr and
  skipped; blank lines are ignored. Lines read before the first handshake wait
  for it, each for at most --outbound-timeout-ms (then it fails as
  not_connected); after the first handshake, a line sent while the link is down
  fails at once. End of input does not stop the link; SIGINT or SIGTERM
  disconnects gracefully (drain, close 1000).

Output:
  Events go to stdout, logs and diagnostics to stderr. With --json, one object
  per line with \"event\" and \"at_ms\" (milliseconds since the process started):
    state              state, platform_state; reason (why the last connection or
                       dial ended, when known: {\"kind\":\"dial_failed\",...}) and
                       retry_in_ms (while retrying: the delay until the next
                       dial), each left out when there is none
    inbound            buffer_id (string or null), message (the event, as received)
    outbound_result    request_id, result (the settled result object)
    interrupt_inbound  session_key, chat_id
    passthrough        buffer_id, forward (body_b64, body_text: the body decoded)
    fatal              code (relay_disabled), retryable, message
  Without --json, a timeline for people, saying why on every retry (its layout
  is not a contract).

Exit codes:
  0  stopped on request (SIGINT or SIGTERM); the link closed cleanly
  2  bad usage or configuration; nothing was dialed
  3  relay disabled: the credential was revoked; the link will not reconnect";

/// After `relay-link connector --help`.
pub(crate) const CONNECTOR: &str = concat!(
    "\
Environment:
  RELAY_LINK_CONNECTOR_SECRETS  The gateways this connector accepts and their
                                secrets: GW=SECRET,GW2=SECRET2 (a gateway's
                                RELAY_LINK_SECRET must match its entry).
  RELAY_LINK_LOG                Log filter for stderr (default: warn).

Standard input: one command per line.
",
    connector_commands!(),
    "

Example (two terminals):
  RELAY_LINK_CONNECTOR_SECRETS=gw-1=s3cret relay-link connector
  RELAY_LINK_SECRET=s3cret relay-link connect --url ws://127.0.0.1:8765 --gateway-id gw-1"
);
