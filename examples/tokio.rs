//! A tokio application embedding a link: the link's sockets and timers run
//! on tokio's reactor (`Runtime::Tokio`), its driver is a tokio task.
//!
//! `cargo run --example tokio --features tokio` (it starts the loopback
//! test connector, so no outside service is needed).

use std::time::Duration;

use relay_link::config::Config;
use relay_link::shell::{Options, RelayLink, Runtime};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
// One `StreamExt` in scope: `futures`' (or `tokio-stream`'s) `next`.
use futures_util::StreamExt as _;

/// An outbound action as the application's own type: any `Serialize`
/// value that serialises to an object with an `op` is one.
#[derive(serde::Serialize)]
struct Send<'a> {
    op: &'static str,
    text: &'a str,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connector = Connector::start(ConnectorOptions::default()).await?;
    connector.add_gateway("gw-1", Secret::new("s3cret"));

    let config = Config::builder(connector.url())
        .gateway_id("gw-1")
        .secret("s3cret")
        .identity("discord", "bot-1")
        .build()?;
    let options = Options {
        runtime: Runtime::Tokio,
        ..Options::default()
    };
    let (link, mut events, driver) = RelayLink::new(config, options)?;
    let driver = tokio::spawn(driver);

    // The application reads its events on a task of its own; every state
    // change says why (`retrying in 1.2 s: connection refused (…)`).
    let reader = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Some(change) = event.state_change() {
                println!("state {change}");
            }
        }
    });
    // Handshaken, or why it never will be (`NotReady`: disabled or closed,
    // with the cause).
    link.ready().await?;
    let action = Send {
        op: "send",
        text: "hello from tokio",
    };
    match link.send(&action, Some("discord")).await {
        Ok(result) => println!("result {}", relay_link::serde_json::Value::Object(result)),
        Err(e) => println!("failed (ambiguous: {}): {e}", e.is_ambiguous()),
    }
    let stats = link.stats();
    println!(
        "{} dial(s), {} handshake(s), {} result(s), {:?} in {}",
        stats.counters.dials,
        stats.counters.handshakes,
        stats.counters.requests.result,
        stats.in_state_for,
        stats.state
    );
    println!(
        "disconnect {:?}",
        link.disconnect(Duration::from_secs(2)).await
    );
    driver.await?;
    reader.await?;
    Ok(())
}
