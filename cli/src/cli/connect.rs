//! `relay-link connect`: dial a connector and keep the link alive.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use relay_link::config::{Config, ConfigBuilder, ConfigError, Identity};
use relay_link::shell::{Event, Events, Options, RelayLink, SpawnError};
use relay_link::{LinkState, RequestId};
use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};
use smol::io::AsyncBufReadExt;

use super::first_handshake::{self, Gate, Opener};
use super::flags::{self, Given};
use super::output::Printer;
use super::tls_flags::TlsArgs;
use super::{EXIT_DISABLED, EXIT_OK, EXIT_USAGE};

/// The environment variable holding the gateway's secret (never a flag).
pub(crate) const SECRET_ENV: &str = "RELAY_LINK_SECRET";

/// How long a signal-triggered disconnect may take.
const DISCONNECT_BUDGET: Duration = Duration::from_secs(5);

/// Stdin lines read and parsed, waiting for the first handshake, at most
/// (then reading pauses until they move on).
const WAITING_LINES: usize = 1024;

/// `relay-link connect` options (`docs/contract.md` §8).
#[derive(Debug, Args)]
#[command(after_help = super::help::CONNECT)]
pub(crate) struct ConnectArgs {
    /// The connector's base URL (http→ws, https→wss, `/relay` appended).
    #[arg(long)]
    url: String,
    /// The gateway id; its secret comes from RELAY_LINK_SECRET.
    #[arg(long)]
    gateway_id: Option<String>,
    /// A fronted identity PLATFORM:BOT_ID; repeatable, in order.
    #[arg(long = "identity", value_name = "PLATFORM:BOT_ID")]
    identities: Vec<String>,
    /// First backoff step, ms.
    #[arg(long, default_value_t = 1000)]
    backoff_base_ms: u64,
    /// Backoff cap, ms.
    #[arg(long, default_value_t = 30000)]
    backoff_max_ms: u64,
    /// Handshaken time that resets the backoff, ms.
    #[arg(long, default_value_t = 60000)]
    stable_after_ms: u64,
    /// Budget of one dial (TCP, TLS, upgrade), ms.
    #[arg(long, default_value_t = 10000)]
    connect_timeout_ms: u64,
    /// Wait for the first descriptor, ms.
    #[arg(long, default_value_t = 30000)]
    handshake_timeout_ms: u64,
    /// Wait for an outbound result, ms.
    #[arg(long, default_value_t = 30000)]
    outbound_timeout_ms: u64,
    /// Keepalive ping period, ms.
    #[arg(long, default_value_t = 30000)]
    ping_interval_ms: u64,
    /// Nothing heard for this long = dead link, ms.
    #[arg(long, default_value_t = 60000)]
    idle_timeout_ms: u64,
    /// Upgrade token lifetime, s (<= 0: never expires).
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    token_ttl_s: i64,
    /// Seed of the backoff jitter (default: from the OS).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the link's input trace (JSON Lines) here, for replay.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Machine-readable output: one JSON object per line.
    #[arg(long)]
    json: bool,
    /// `--ca-file`, `--tls-roots`.
    #[command(flatten)]
    tls: TlsArgs,
}

/// Why `--secret` is refused. The arguments are checked for it before
/// clap parses them ([`names_secret_flag`]), so the refusal comes first
/// whatever else is wrong, and the value is never read or printed.
pub(crate) const SECRET_FLAG_REFUSED: &str =
    "--secret is not accepted: a secret on the command line \
shows in `ps` and in shell history; put it in the environment variable RELAY_LINK_SECRET";

impl ConnectArgs {
    /// The `--…-ms` flags: (configuration field, flag, value).
    fn millis(&self) -> [(&'static str, &'static str, u64); 8] {
        [
            ("backoff_base", "--backoff-base-ms", self.backoff_base_ms),
            ("backoff_max", "--backoff-max-ms", self.backoff_max_ms),
            ("stable_after", "--stable-after-ms", self.stable_after_ms),
            (
                "connect_timeout",
                "--connect-timeout-ms",
                self.connect_timeout_ms,
            ),
            (
                "handshake_timeout",
                "--handshake-timeout-ms",
                self.handshake_timeout_ms,
            ),
            (
                "outbound_timeout",
                "--outbound-timeout-ms",
                self.outbound_timeout_ms,
            ),
            ("ping_interval", "--ping-interval-ms", self.ping_interval_ms),
            ("idle_timeout", "--idle-timeout-ms", self.idle_timeout_ms),
        ]
    }

    /// The configuration, or the error to print, in the flags' words.
    fn checked_config(&self) -> Result<Config, String> {
        self.config().map_err(|error| {
            flags::describe(
                &error,
                &Given {
                    url: &self.url,
                    gateway_id: self.gateway_id.as_deref(),
                    millis: &self.millis(),
                },
            )
        })
    }

    /// Builds and validates the configuration before anything dials.
    fn config(&self) -> Result<Config, ConfigError> {
        let ms = Duration::from_millis;
        let mut builder: ConfigBuilder = Config::builder(self.url.clone())
            .backoff_base(ms(self.backoff_base_ms))
            .backoff_max(ms(self.backoff_max_ms))
            .stable_after(ms(self.stable_after_ms))
            .connect_timeout(ms(self.connect_timeout_ms))
            .handshake_timeout(ms(self.handshake_timeout_ms))
            .outbound_timeout(ms(self.outbound_timeout_ms))
            .ping_interval(ms(self.ping_interval_ms))
            .idle_timeout(ms(self.idle_timeout_ms))
            .token_ttl_secs(self.token_ttl_s);
        if let Some(id) = &self.gateway_id {
            builder = builder.gateway_id(id.clone());
        }
        if let Ok(secret) = std::env::var(SECRET_ENV) {
            builder = builder.secret(secret);
        }
        let identities = self
            .identities
            .iter()
            .map(|spec| Identity::parse(spec))
            .collect::<Result<Vec<_>, _>>()?;
        builder.identities(identities).build()
    }
}

/// The warning for a configuration that dials without auth although it
/// looks meant to (a connector that requires auth refuses such a dial).
fn auth_warning(config: &Config) -> Option<String> {
    match (config.gateway_id(), config.secret()) {
        (Some(id), None) => Some(format!(
            "--gateway-id {id} is set but RELAY_LINK_SECRET is not (or blank): \
the upgrade carries no Authorization header, and a connector that requires auth will refuse it"
        )),
        (None, Some(_)) => Some(
            "RELAY_LINK_SECRET is set but --gateway-id is not: the upgrade carries no \
Authorization header, and a connector that requires auth will refuse it"
                .to_owned(),
        ),
        _ => None,
    }
}

/// What the main loop reacts to.
enum Msg {
    Event(Event),
    Ended,
    Settled(RequestId, Value),
    Signal,
}

/// Whether the arguments (program name excluded) pass `--secret`, as a
/// flag of its own or as `--secret=VALUE`, before any `--`.
pub(crate) fn names_secret_flag(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter().take_while(|arg| arg != "--").any(|arg| {
        let arg = arg.to_string_lossy();
        arg == "--secret" || arg.starts_with("--secret=")
    })
}

pub(crate) fn run(args: ConnectArgs) -> u8 {
    let config = match args.checked_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("relay-link: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(warning) = auth_warning(&config) {
        eprintln!("relay-link: warning: {warning}");
    }
    let outbound_timeout = config.outbound_timeout();
    // Watch SIGINT/SIGTERM before anything dials: a signal at any moment
    // after start-up is a graceful stop (exit 0), never the default kill.
    let signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term]);
    let mut options = Options {
        seed: args.seed,
        record: args.record.clone(),
        ..Options::default()
    };
    options.tls = args.tls.options();
    let (link, events) = match RelayLink::spawn(config, options) {
        Ok(spawned) => spawned,
        Err(SpawnError::Record(e)) => {
            let path = args.record.as_deref().unwrap_or(std::path::Path::new(""));
            eprintln!("relay-link: --record {}: {e}", path.display());
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("relay-link: {}", args.tls.describe(&e));
            return EXIT_USAGE;
        }
    };
    let printer = Printer::new(args.json);
    smol::block_on(drive(link, events, signals, printer, outbound_timeout))
}

async fn drive(
    link: RelayLink,
    events: Events,
    signals: std::io::Result<async_signal::Signals>,
    printer: Printer,
    outbound_timeout: Duration,
) -> u8 {
    let (tx, rx) = smol::channel::unbounded();
    let (mut opener, gate) = first_handshake::gate();
    let (lines_tx, lines) = smol::channel::bounded(WAITING_LINES);
    let lines_closer = lines_tx.clone();
    smol::spawn(forward_events(events, tx.clone())).detach();
    smol::spawn(read_stdin(lines_tx)).detach();
    smol::spawn(send_lines(
        link.clone(),
        lines,
        gate,
        outbound_timeout,
        tx.clone(),
    ))
    .detach();
    smol::spawn(watch_signals(signals, tx.clone())).detach();
    let mut disabled = false;
    let mut stopping = false;
    while let Ok(msg) = rx.recv().await {
        match msg {
            Msg::Event(event) => {
                opens_gate(&event, &mut opener);
                disabled |= printer.event(event);
            }
            Msg::Settled(id, result) => printer.outbound_result(&id, &result),
            Msg::Signal if !stopping => {
                stopping = true;
                let link = link.clone();
                smol::spawn(async move { link.disconnect(DISCONNECT_BUDGET).await }).detach();
            }
            Msg::Signal => {}
            Msg::Ended => {
                opener.open();
                break;
            }
        }
    }
    // The link has ended: no new stdin line is sent (a producer that keeps
    // writing must not keep the process alive); requests settled in its
    // last moments still get their `outbound_result` line within a fixed
    // 200 ms (they settle at once now).
    lines_closer.close();
    let until = Instant::now() + Duration::from_millis(200);
    while let Some(Ok(msg)) = smol::future::or(async { Some(rx.recv().await) }, async {
        smol::Timer::at(until).await;
        None
    })
    .await
    {
        if let Msg::Settled(id, result) = msg {
            printer.outbound_result(&id, &result);
        }
    }
    if disabled {
        EXIT_DISABLED
    } else {
        EXIT_OK
    }
}

/// The first handshake opens the gate for stdin lines.
fn opens_gate(event: &Event, opener: &mut Opener) {
    if let Event::State {
        state: LinkState::Handshaken,
        ..
    } = event
    {
        opener.open();
    }
}

async fn forward_events(mut events: Events, tx: Sender<Msg>) {
    use futures_util::StreamExt;
    while let Some(event) = events.next().await {
        let _ = tx.send(Msg::Event(event)).await;
    }
    let _ = tx.send(Msg::Ended).await;
}

async fn watch_signals(signals: std::io::Result<async_signal::Signals>, tx: Sender<Msg>) {
    use futures_util::StreamExt;
    let Ok(mut signals) = signals else {
        tracing::warn!("cannot watch SIGINT/SIGTERM");
        return;
    };
    while signals.next().await.is_some() {
        let _ = tx.send(Msg::Signal).await;
    }
}

/// Parses one stdin line into an outbound action and its platform.
pub(crate) fn parse_action(
    line: &str,
) -> Result<(serde_json::Map<String, Value>, Option<String>), String> {
    let mut action = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not JSON ({e})")),
    };
    if !action.get("op").is_some_and(Value::is_string) {
        return Err("the object has no string \"op\"".into());
    }
    let platform = match action.remove("platform") {
        None | Some(Value::Null) => None,
        Some(Value::String(platform)) => Some(platform),
        Some(_) => return Err("\"platform\" must be a string".into()),
    };
    Ok((action, platform))
}

/// One parsed stdin line on its way to the link.
struct Line {
    read: Instant,
    action: Map<String, Value>,
    platform: Option<String>,
}

/// Reads stdin; every valid line goes to [`send_lines`], in order. A line
/// that is not UTF-8 is reported and skipped like any other bad line.
async fn read_stdin(lines_tx: Sender<Line>) {
    let mut stdin = smol::io::BufReader::new(smol::Unblock::with_capacity(
        super::STDIN_BUFFER,
        std::io::stdin(),
    ));
    let mut number = 0usize;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match stdin.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        number += 1;
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        let Ok(line) = std::str::from_utf8(&bytes) else {
            eprintln!("relay-link: stdin line {number} skipped: not valid UTF-8");
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_action(line) {
            Ok((action, platform)) => {
                let read = Instant::now();
                let line = Line {
                    read,
                    action,
                    platform,
                };
                if lines_tx.send(line).await.is_err() {
                    break;
                }
            }
            Err(problem) => eprintln!("relay-link: stdin line {number} skipped: {problem}"),
        }
    }
    // End of input does not stop the link.
}

/// Sends each line once the link has been handshaken (or its wait is
/// over, [`first_handshake`]); its result comes back as `Msg::Settled`.
async fn send_lines(
    link: RelayLink,
    lines: Receiver<Line>,
    gate: Gate,
    outbound_timeout: Duration,
    tx: Sender<Msg>,
) {
    while let Ok(Line {
        read,
        action,
        platform,
    }) = lines.recv().await
    {
        gate.wait(first_handshake::deadline(read, outbound_timeout))
            .await;
        let pending = link.request(action, platform.as_deref());
        let tx = tx.clone();
        smol::spawn(async move {
            let id = pending.id().clone();
            let result = pending.settled().await;
            let result = result.map_or_else(|e| e.to_json(), Value::Object);
            let _ = tx.send(Msg::Settled(id, result)).await;
        })
        .detach();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_action;

    #[test]
    fn a_top_level_platform_moves_out_of_the_action() {
        let (action, platform) =
            parse_action(r#"{"op":"send","text":"hi","platform":"slack"}"#).unwrap();
        assert_eq!(platform.as_deref(), Some("slack"));
        assert!(!action.contains_key("platform"));
        assert_eq!(action["op"], "send");
    }

    #[test]
    fn lines_without_a_string_op_are_refused() {
        assert!(parse_action("[1,2]").is_err());
        assert!(parse_action("not json").is_err());
        assert!(parse_action(r#"{"op": 3}"#).is_err());
        assert!(parse_action(r#"{"text":"x"}"#).is_err());
    }
}
