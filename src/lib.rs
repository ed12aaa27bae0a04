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
//! ## The sans-IO core and its driving contract
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
//! * [`backoff`]: the seeded backoff ladder; [`timers`]: the named timers.
//! * [`trace`]: recording, replaying and rendering traces;
//!   [`diagram`]: the state diagram generated from the machine.
//! * `shell` (feature `shell`): `RelayLink`, the smol task that runs a
//!   `Link` against real sockets, with a cloneable handle and an event
//!   stream; `wss://` through rustls with the feature `tls`.
//! * `testing` (feature `testing`): `Connector`, a scriptable loopback test
//!   connector.
//!
//! ## Features
//!
//! `default = ["shell", "tls", "testing", "cli"]`. With
//! `--no-default-features` only the sans-IO core is built: no smol, no
//! sockets, no TLS.
//!
//! See `docs/state-machine.md` for every state, input and transition.
#![warn(missing_docs)]

pub mod backoff;
mod buffers;
pub mod command;
pub mod config;
mod core;
pub mod decoder;
pub mod diagram;
mod ids;
pub mod input;
mod judgement;
mod link;
mod machine;
pub mod protocol;
mod requests;
#[cfg(feature = "shell")]
pub mod shell;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timers;
pub mod token;
pub mod trace;

pub use command::{Command, FatalReport, LinkState, PlatformState, Settlement};
pub use core::Stats;
pub use ids::{Generation, RequestId};
pub use input::{DialFailure, Input};
pub use link::Link;
pub use timers::Timer;

/// The README's Rust examples compile as doctests.
#[cfg(all(doctest, feature = "shell"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
