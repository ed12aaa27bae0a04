//! Embedding relay-link in a plain-threads program.
//!
//! The link runs on smol's global executor; the application keeps a
//! cloneable `RelayLink` handle and reads `Events` from any thread. A tokio
//! program embeds it the same way: `RelayLink::spawn` needs no runtime,
//! and the handle's futures and the event stream are runtime-agnostic, so
//! they can be awaited inside tokio tasks as they are here inside
//! `smol::block_on`.
//!
//! This example starts the in-process test connector so it runs anywhere:
//! `cargo run --example embed`.

use std::time::Duration;

use relay_link::config::Config;
use relay_link::serde_json::{json, Value};
use relay_link::shell::{Event, Options, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use smol::stream::StreamExt as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A connector to talk to (in production: your connector's base URL).
    let connector = smol::block_on(Connector::start(ConnectorOptions::default()))?;
    connector.add_gateway("gw-embed", Secret::new("embed-secret"));

    let config = Config::builder(connector.url())
        .gateway_id("gw-embed")
        .secret("embed-secret")
        .identity("discord", "bot-1")
        .build()?;
    let (link, mut events) = RelayLink::spawn(config, Options::default())?;

    // An application thread consumes events.
    let reader = std::thread::spawn(move || {
        smol::block_on(async {
            while let Some(event) = events.next().await {
                match event {
                    Event::State {
                        state, platform, ..
                    } => println!("state: {state} ({platform})"),
                    Event::Inbound { frame, acceptance } => {
                        // The event is typed on demand; `frame.raw_event` is its JSON.
                        match frame.event() {
                            Ok(event) => println!("inbound: {:?}", event.text),
                            Err(e) => println!("inbound with an ill-typed event: {e}"),
                        }
                        if let Some(acceptance) = acceptance {
                            acceptance.accept(); // only now is it acked
                        }
                    }
                    Event::Fatal(report) => println!("fatal: {}", report.message),
                    other => println!("event: {other:?}"),
                }
            }
        })
    });

    // Another thread sends a request once connected and then disconnects.
    smol::block_on(async {
        // Handshaken, or why not: `the relay link is disabled: credential revoked (…)`.
        link.ready().await?;
        connector.push_inbound("gw-embed", json!({"text": "hello from chat"}));
        // `Ok` is the connector's answer, whatever it says; `Err` is the
        // link's own failure, and says whether the action may have gone out.
        let action = json!({"op": "send", "text": "hi"});
        match link.send(action, Some("discord")).await {
            Ok(result) => println!("result: {}", Value::Object(result)),
            Err(e) if e.is_ambiguous() => println!("maybe sent: {e}"),
            Err(e) => println!("not sent: {e}"),
        }
        link.disconnect(Duration::from_secs(2)).await;
        Ok::<(), relay_link::shell::NotReady>(())
    })?;
    reader.join().map_err(|_| "event thread panicked")?;
    Ok(())
}
