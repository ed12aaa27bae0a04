//! `relay-link replay TRACE`: render a recorded trace.

use std::path::PathBuf;

use clap::Args;
use relay_link::trace::{render_command, render_input, replay, Step, Trace};
use serde_json::json;

use super::{EXIT_OK, EXIT_USAGE};

/// `relay-link replay` options.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The trace file (JSON Lines, as written by `connect --record`).
    trace: PathBuf,
    /// One JSON object per entry instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ReplayArgs) -> u8 {
    let text = match std::fs::read_to_string(&args.trace) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("relay-link: {}: {e}", args.trace.display());
            return EXIT_USAGE;
        }
    };
    let trace = match Trace::parse(&text) {
        Ok(trace) => trace,
        Err(e) => {
            eprintln!("relay-link: {}: {e}", args.trace.display());
            return EXIT_USAGE;
        }
    };
    let result = if args.json {
        trace.run(|entry, commands, link| {
            let input = match &entry.step {
                Step::Input(input) => render_input(input),
                Step::Timeout => "timeout".into(),
                other => format!("{other:?}"),
            };
            let line = json!({
                "at_ms": entry.at.as_secs_f64() * 1000.0,
                "input": input,
                "commands": commands.iter().map(render_command).collect::<Vec<_>>(),
                "state": link.state().name(),
                "platform_state": link.platform_state().map(|p| p.name()),
            });
            println!("{line}");
        })
    } else {
        replay(&trace).map(|story| print!("{story}"))
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("relay-link: {}: {e}", args.trace.display());
            EXIT_USAGE
        }
    }
}
