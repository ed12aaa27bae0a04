//! Argument parsing and dispatch of the subcommands.

mod connect;
mod connector;
mod demo;
mod first_handshake;
mod flags;
mod help;
mod output;
mod replay;
mod tls_flags;

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use clap::{Parser, Subcommand};

/// Exit code: stopped on request, link closed cleanly.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: bad usage or configuration; nothing was dialed.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the relay is disabled (credential revoked).
pub(crate) const EXIT_DISABLED: u8 = 3;

/// The buffer stdin is read through. smol's `Unblock` defaults to 8 MiB,
/// whose pages became resident as input flowed (a long-running `connect`
/// grew by ~93 bytes per line up to ~14 MB); a line at a time is plenty.
pub(crate) const STDIN_BUFFER: usize = 16 * 1024;

/// When the process started (as near as `main` can tell): what every
/// `--json` line's `at_ms` and the timeline's clock count from.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// The process's start, [`STARTED`].
pub(crate) fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

/// Keeps a gateway's relay link to its connector alive, correct and observable.
#[derive(Debug, Parser)]
#[command(name = "relay-link", version, about, after_help = help::MAIN)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dial a connector and keep the link alive until stopped.
    Connect(Box<connect::ConnectArgs>),
    /// Walk the whole lifecycle against an in-process connector.
    Demo(demo::DemoArgs),
    /// Run the loopback test connector, scripted from standard input.
    Connector(connector::ConnectorArgs),
    /// Render a recorded trace as the event → command story.
    Replay(replay::ReplayArgs),
    /// Print the state diagram generated from the machine (Mermaid).
    Diagram,
}

/// Logs go to stderr, never stdout; `RELAY_LINK_LOG` sets the filter.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELAY_LINK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_color())
        .try_init();
}

pub(crate) fn main() -> ExitCode {
    started();
    // Before clap: a secret on the command line is refused with the same
    // message whatever else is wrong with the arguments.
    if connect::names_secret_flag(std::env::args_os().skip(1)) {
        eprintln!("relay-link: {}", connect::SECRET_FLAG_REFUSED);
        return ExitCode::from(EXIT_USAGE);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let code = match cli.command {
        Command::Connect(args) => connect::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Connector(args) => connector::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Diagram => {
            print!("{}", relay_link::diagram::mermaid());
            EXIT_OK
        }
    };
    ExitCode::from(code)
}
