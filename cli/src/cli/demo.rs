//! `relay-link demo`: the whole lifecycle against an in-process connector,
//! as a readable timeline, in a few seconds and with no other service.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use relay_link::config::Config;
use relay_link::shell::{Event, Events, Options, RelayLink, SpawnError};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use relay_link::{LinkState, PlatformState};
use serde_json::json;

use super::output::Printer;
use super::{EXIT_OK, EXIT_USAGE};

const GATEWAY: &str = "gw-demo";
/// Longest wait for any one step of the story.
const STEP: Duration = Duration::from_secs(5);

/// `relay-link demo` options.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to record the demo's trace (default: a file in the temp dir).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Machine-readable output, as `connect --json`.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: DemoArgs) -> u8 {
    let record = args.record.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("relay-link-demo-{}.jsonl", std::process::id()))
    });
    let printer = Printer::new(args.json);
    match smol::block_on(story(&printer, record.clone())) {
        Ok(()) => {
            printer.note(&format!(
                "trace recorded: {} (relay-link replay {0})",
                record.display()
            ));
            if !args.json {
                println!("trace: {}", record.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("relay-link demo: {e}");
            EXIT_USAGE
        }
    }
}

/// Prints events until `done` says so; buffered deliveries are accepted
/// once printed (that is when they are acked).
async fn until(
    printer: &Printer,
    events: &mut Events,
    what: &str,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), String> {
    use futures_util::StreamExt;
    let deadline = Instant::now() + STEP;
    loop {
        let next = smol::future::or(async { Some(events.next().await) }, async {
            smol::Timer::at(deadline).await;
            None
        })
        .await;
        let event = match next {
            Some(Some(event)) => event,
            Some(None) => return Err(format!("the link ended while waiting for {what}")),
            None => return Err(format!("timed out waiting for {what}")),
        };
        let finished = done(&event);
        printer.event(event);
        if finished {
            return Ok(());
        }
    }
}

/// Waits out a drop: retrying, then handshaken again with both descriptors.
async fn reconnect(printer: &Printer, events: &mut Events) -> Result<(), String> {
    let retrying = |e: &Event| {
        matches!(
            e,
            Event::State {
                platform: PlatformState::Retrying,
                ..
            }
        )
    };
    until(printer, events, "the retry", retrying).await?;
    let mut descriptors = 0;
    until(printer, events, "the reconnect", |e| {
        descriptors += usize::from(matches!(e, Event::Descriptor(_)));
        descriptors == 2
    })
    .await
}

fn is_state(event: &Event, wanted: LinkState) -> bool {
    matches!(event, Event::State { state, .. } if *state == wanted)
}

async fn story(printer: &Printer, record: PathBuf) -> Result<(), String> {
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .map_err(|e| format!("cannot start the connector: {e}"))?;
    connector.add_gateway(GATEWAY, Secret::new("demo-secret"));
    printer.note(&format!("connector listening at {}", connector.url()));
    connector.push_inbound(
        GATEWAY,
        json!({"text": "sent while the gateway was offline", "message_id": "m-1"}),
    );
    printer.note("a chat message arrives while the gateway is offline: the connector buffers it");

    let config = Config::builder(connector.url())
        .gateway_id(GATEWAY)
        .secret("demo-secret")
        .identity("discord", "bot-1")
        .identity("slack", "bot-2")
        .backoff_base(Duration::from_millis(300))
        .backoff_max(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let record_path = record.clone();
    let options = Options {
        seed: Some(7),
        record: Some(record),
        ..Options::default()
    };
    let (link, mut events) = RelayLink::spawn(config, options).map_err(|e| match e {
        SpawnError::Record(e) => format!("--record {}: {e}", record_path.display()),
        e => e.to_string(),
    })?;

    printer.note("dialing with a fresh token; two identities say hello");
    let (mut descriptors, mut delivered) = (0, false);
    until(
        printer,
        &mut events,
        "the handshake and the buffered message",
        |e| {
            descriptors += usize::from(matches!(e, Event::Descriptor(_)));
            delivered |= matches!(e, Event::Inbound { .. });
            descriptors == 2 && delivered
        },
    )
    .await?;
    printer.note("the buffered message was delivered, then acked");

    let pending = link.request(
        json!({"op": "send", "text": "hello from the gateway"}),
        Some("slack"),
    );
    let id = pending.id().clone();
    let result = pending.settled().await;
    let result = result.map_or_else(|e| e.to_json(), serde_json::Value::Object);
    printer.outbound_result(&id, &result);

    printer.note("the connection drops abruptly: back off, then re-dial");
    connector.drop_connections(GATEWAY);
    reconnect(printer, &mut events).await?;

    printer.note("the token ages out: 4401 \"expired\" is an ordinary drop, never a revocation");
    connector.expire_token(GATEWAY);
    reconnect(printer, &mut events).await?;

    printer.note("the operator opts this gateway out: 4401 after the handshake is a first strike");
    printer
        .note("the link re-dials once, at once, with a fresh token; refused again, it is revoked");
    connector.revoke(GATEWAY);
    until(printer, &mut events, "the link to be disabled", |e| {
        is_state(e, LinkState::Disabled)
    })
    .await?;
    let dials = connector.seen().dials.len();
    smol::Timer::after(Duration::from_millis(500)).await;
    if connector.seen().dials.len() != dials {
        return Err("a disabled link dialed again".into());
    }
    printer.note(&format!(
        "{dials} dials in all; none after the link was disabled"
    ));
    connector.shutdown();
    Ok(())
}
