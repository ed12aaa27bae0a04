//! # relay-link
//!
//! Keeps a gateway's relay link to its connector alive, correct and
//! observable. A gateway dials *out* over WebSocket to a connector (which
//! owns the chat platforms) and speaks newline-delimited JSON frames with
//! it. relay-link owns the hard part, the lifecycle: reconnecting without
//! storms, never two dials at once, settling every in-flight request
//! exactly once, and telling a revoked credential (4401 after a handshake,
//! confirmed by a fresh-token re-dial) from a cold-start race (4401 before
//! any handshake) or an expired token (4401 `expired`). A revoked link ends
//! in a neutral **Disabled** state and never dials again.
//!
//! ## Embedding the link
//!
//! [`shell::RelayLink`] runs a link on smol's global executor: the
//! application keeps a cloneable handle for requests and reads one
//! [`shell::Events`] stream of deliveries, state changes and the fatal
//! report. Its futures are runtime-agnostic, so a tokio program awaits them
//! the same way. A request's answer is a `Result`: the connector's result
//! object, or a [`RequestError`] for the link's own failure. Actions,
//! results and frames are JSON of the re-exported [`serde_json`].
//!
#![cfg_attr(
    feature = "shell",
    doc = r#"
```no_run
use std::time::Duration;
use relay_link::config::Config;
use relay_link::serde_json::{json, Value};
use relay_link::shell::{Event, Options, RelayLink};
use smol::stream::StreamExt; // the event stream is a `Stream`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::builder("https://connector.example") // wss://connector.example/relay
        .gateway_id("gw-1")
        .secret(std::env::var("RELAY_LINK_SECRET")?)            // never logged
        .identity("discord", "bot-1")
        .build()?;                                              // checked before any dial
    let (link, mut events) = RelayLink::spawn(config, Options::default())?;

    let reader = smol::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::Inbound { frame, acceptance } => {
                    if let Ok(message) = frame.event() {
                        println!("{:?}", message.text);
                    }
                    if let Some(acceptance) = acceptance {
                        acceptance.accept(); // the inbound_ack goes out only now
                    }
                }
                // Why, and when the next dial is: `retrying: connection refused (…)`.
                Event::State { state, cause: Some(cause), .. } => println!("{state}: {cause}"),
                Event::State { state, platform, .. } => println!("{state} / {platform}"),
                Event::Fatal(report) => println!("{}", report.message),
                _ => {}
            }
        }
    });

    smol::block_on(async {
        // Handshaken, or why it never will be: `the relay link is disabled: credential revoked (…)`.
        link.ready().await?;
        let stats = link.stats(); // dials, failures by kind, closes by code, requests by outcome …
        println!("{} dials, {} failed", stats.counters.dials, stats.counters.dial_failures.total());
        // Settled exactly once, never hangs. `Ok` is the connector's answer
        // (whatever it says); `Err` is the link's own failure.
        match link.send(json!({"op": "send", "text": "hi"}), Some("discord")).await {
            Ok(result) => println!("answered: {}", Value::Object(result)),
            Err(e) if e.is_ambiguous() => println!("{e}: it may have gone out"),
            Err(e) => println!("{e}: it did not go out"),
        }
        link.disconnect(Duration::from_secs(5)).await; // drains, closes with 1000
        reader.await;
        Ok::<(), relay_link::shell::NotReady>(())
    })?;
    Ok(())
}
```
"#
)]
#![cfg_attr(
    not(feature = "shell"),
    doc = "*(The example needs the `shell` feature, which this build does not have.)*"
)]
//!
//! ## Bringing your own IO: the sans-IO core
//!
//! [`Link`] is a pure, synchronous state machine. It does no IO, reads no
//! clock and draws no OS randomness: the caller passes `now` into every
//! call and a `seed` for the backoff jitter, so a recorded [trace] replays
//! exactly. It is driven in the style of `quinn-proto`:
//!
//! * [`Link::handle_input`] feeds one [`Input`] (socket events from the
//!   shell, requests from the application);
//! * [`Link::handle_timeout`] fires the timers due at `now`;
//! * [`Link::poll_command`] drains the [`Command`]s to execute, in order;
//! * [`Link::poll_timeout`] says when to call `handle_timeout` next.
//!
//! Every [`Command::Dial`] carries a fresh [`Generation`]; inputs about a
//! dial or connection carry it back, and inputs naming an older generation
//! are stale and change nothing. A dial's token is minted by the shell at
//! the moment it executes the command ([`config::Config::mint_token`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use relay_link::{config::Config, Command, Input, LinkState, Link};
//!
//! let config = Config::builder("https://connector.example/")
//!     .gateway_id("gw-1")
//!     .secret("s3cret")
//!     .identity("discord", "bot-1")
//!     .build()?;
//! assert_eq!(config.url(), "wss://connector.example/relay");
//!
//! let t0 = Instant::now(); // the shell's clock, not the core's
//! let mut link = Link::new(config, 42, t0);
//! link.handle_input(Input::Start, t0);
//! let Some(Command::Dial { gen, auth: true }) = link.poll_command() else {
//!     panic!("the first command is a dial");
//! };
//! // Then the state changes: `connecting`, platform `connecting`.
//! assert_eq!(link.poll_command(), Some(Command::StateChanged(LinkState::Connecting)));
//! link.drain_commands();
//!
//! // The upgrade was accepted: the core says hello for each identity.
//! link.handle_input(Input::DialSucceeded { gen }, t0 + Duration::from_millis(20));
//! let hellos: Vec<Command> = link.drain_commands().into_iter().collect();
//! assert!(matches!(&hellos[0], Command::Send { frame, .. } if frame.kind() == "hello"));
//!
//! // The connection drops before any descriptor: back off, then re-dial.
//! link.handle_input(
//!     Input::SocketClosed { gen, code: Some(1006), reason: String::new() },
//!     t0 + Duration::from_millis(50),
//! );
//! assert_eq!(link.state(), LinkState::Retrying);
//! let (deadline, timer) = link.poll_timeout().expect("a backoff timer");
//! assert_eq!(timer.name(), "backoff");
//! link.drain_commands();
//! link.handle_timeout(deadline);
//! assert!(matches!(link.poll_command(), Some(Command::Dial { .. })));
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```
//!
//! ## Modules
//!
//! * [`protocol`]: the wire frames (serde), unknown fields preserved;
//!   [`decoder`]: the per-connection line buffer.
//! * [`config`]: validated configuration and URL normalisation;
//!   [`token`]: upgrade tokens and the redacting [`token::Secret`].
//! * [`Link`], [`input`], [`command`]: the core, what it is told and what
//!   it asks; [`backoff`]: the seeded backoff ladder; [`timers`]: the named
//!   timers.
//! * [`cause`]: why the link is where it is ([`Link::cause`],
//!   [`Link::retry_in`]); [`counters`]: what it did ([`Link::counters`]).
//! * [`trace`]: recording, replaying and rendering traces;
//!   [`diagram`]: the state diagram generated from the machine.
//! * [`shell`] (feature `shell`): [`shell::RelayLink`], the handle of the
//!   driver future that runs a `Link` against real sockets (on smol, on
//!   tokio, or on the application's own executor).
//! * [`testing`] (feature `testing`): [`testing::Connector`], a scriptable
//!   loopback test connector.
//!
//! ## Features
//!
//! | feature | default | what it adds | dependencies it pulls |
//! |---|---|---|---|
//! | (none) | | the sans-IO core: [`Link`], [`protocol`], [`config`], [`token`], [`trace`] | serde, serde_json, statig, hmac, sha2, base64, hex, fastrand, thiserror, memchr |
//! | `shell` | yes | [`shell`]: `RelayLink` on smol, `ws://` | smol, async-tungstenite, futures-util, tracing |
//! | `tls` | yes | `wss://` through rustls (ring; webpki roots, extra roots in DER or PEM files, or a ready `ClientConfig`: [`shell::tls`]) | futures-rustls, rustls, webpki-roots, rustls-pki-types |
//! | `native-roots` | yes | `TlsRoots::Native` and `TlsRoots::Both`: the operating system's trusted roots | rustls-native-certs (on Linux also openssl-probe) |
//! | `testing` | yes | [`testing`]: the loopback test `Connector`, to test an embedding against | (those of `shell`) |
//! | `tokio` | no | `shell::Runtime::Tokio`: sockets and timers on tokio's reactor | tokio |
//! | `metrics` | no | `RelayLink::stats` as counters and gauges through the `metrics` facade (names in `shell::metrics_names`) | metrics |
//!
//! `relay-link = { version = "…", default-features = false }` builds the
//! core alone: no smol, no sockets, no TLS. The `relay-link` command-line
//! tool is a separate crate of the repository's workspace (`cli/`), so a
//! library user compiles none of its dependencies.
//!
//! The wire contract, with every choice this crate made, is
//! `docs/contract.md` in the repository and the package; every state, input
//! and transition is in `docs/state-machine.md`.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
mod buffers;
pub mod cause;
pub mod command;
pub mod config;
mod core;
pub mod counters;
pub mod decoder;
pub mod diagram;
mod ids;
pub mod input;
mod judgement;
mod link;
mod machine;
pub mod protocol;
mod request_error;
mod requests;
#[cfg(feature = "shell")]
#[cfg_attr(docsrs, doc(cfg(feature = "shell")))]
pub mod shell;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod timers;
pub mod token;
pub mod trace;
mod why;

pub use cause::Cause;
pub use command::{Command, FatalReport, LinkState, PlatformState, Settlement};
pub use core::Stats;
pub use counters::Counters;
pub use ids::{Generation, RequestId};
pub use input::{DialFailure, Input, IoFailure};
pub use link::Link;
pub use request_error::RequestError;
/// The `serde_json` this crate speaks (actions, result objects, frames'
/// unknown fields), so applications use the same version.
pub use serde_json;
pub use timers::Timer;

/// The README's Rust examples compile as doctests.
#[cfg(all(doctest, feature = "shell"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
