//! Inputs: everything the outside world tells the core.
//!
//! The shell turns socket events into inputs; the application turns its
//! calls into inputs. Inputs that report on a dial or a connection carry
//! the [`Generation`] of the [`Command::Dial`](crate::Command::Dial) they
//! answer, so the core can tell stale news from current news.
//!
//! ```
//! use std::time::Instant;
//! use relay_link::{config::Config, Command, Generation, Input, Link};
//!
//! let config = Config::builder("http://127.0.0.1:8765").build()?;
//! let t0 = Instant::now();
//! let mut link = Link::new(config, 1, t0);
//! link.handle_input(Input::Start, t0);
//! assert!(matches!(link.poll_command(), Some(Command::Dial { gen: Generation(1), .. })));
//! link.drain_commands();
//!
//! // News about a generation that is not the live one is stale: ignored.
//! link.handle_input(Input::DialSucceeded { gen: Generation(7) }, t0);
//! assert_eq!(link.poll_command(), None);
//! assert_eq!(link.stats().stale_inputs, 1);
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Generation, RequestId};

/// One input to the [`Link`](crate::Link).
///
/// Inputs serialise to one JSON object each (tag `"input"`), which is how a
/// [trace](crate::trace) stores them. No input ever holds a credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// Start the link: the first dial goes out.
    Start,
    /// The WebSocket upgrade of dial `gen` was accepted; the socket is open.
    DialSucceeded {
        /// The dial this answers.
        gen: Generation,
    },
    /// Dial `gen` failed before the socket opened.
    DialFailed {
        /// The dial this answers.
        gen: Generation,
        /// Why it failed.
        failure: DialFailure,
    },
    /// A WebSocket text (or UTF-8 binary) message arrived on connection `gen`.
    Received {
        /// The connection it arrived on.
        gen: Generation,
        /// The message payload; may hold several frames or part of one.
        text: String,
    },
    /// A ping or pong arrived on connection `gen`: the peer is alive.
    Heard {
        /// The connection it arrived on.
        gen: Generation,
    },
    /// One WebSocket message on connection `gen` was larger than the
    /// frame limit (the shell could not read it whole): the core closes
    /// the connection with 1009.
    TooLarge {
        /// The connection it arrived on.
        gen: Generation,
    },
    /// Connection `gen` ended: a close frame (with its code and reason), or
    /// EOF / an IO error (no code).
    SocketClosed {
        /// The connection that ended.
        gen: Generation,
        /// The close code, when the peer sent a close frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        /// The close reason (empty when there was none).
        #[serde(default)]
        reason: String,
    },
    /// The application sends an outbound action and waits for its result.
    Send {
        /// The request id; unique among pending requests.
        id: RequestId,
        /// The action object (it has an `op`).
        action: Map<String, Value>,
        /// The platform to route to; `None` means the session default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform: Option<String>,
    },
    /// The application interrupts a session (fire and forget).
    Interrupt {
        /// The session to interrupt.
        session_key: String,
        /// Why, if the application says.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The application asks the connector to buffer its traffic
    /// (`going_idle`), staying connected.
    GoIdle,
    /// The application asks to go dormant: `going_idle`, and only if it is
    /// acknowledged, close the socket and re-dial on the dormant cadence.
    GoDormant,
    /// The application parks pending re-dials (at most `max_hold`).
    HoldRedial,
    /// The application releases parked re-dials.
    ReleaseRedial,
    /// The application accepted a buffered delivery; its `inbound_ack` may
    /// now go out.
    Accepted {
        /// The `bufferId` of the delivery.
        buffer_id: String,
    },
    /// The application disconnects deliberately, within `budget_ms`.
    Disconnect {
        /// The caller's whole budget for the disconnect, in milliseconds.
        budget_ms: u64,
    },
    /// The application has been told about the fatal report.
    FatalAcknowledged,
}

impl Input {
    /// The generation this input reports on, if it answers a dial.
    pub fn generation(&self) -> Option<Generation> {
        match self {
            Input::DialSucceeded { gen }
            | Input::DialFailed { gen, .. }
            | Input::Received { gen, .. }
            | Input::Heard { gen }
            | Input::TooLarge { gen }
            | Input::SocketClosed { gen, .. } => Some(*gen),
            _ => None,
        }
    }
}

/// Why a dial failed before its socket opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DialFailure {
    /// The upgrade was refused at the HTTP level (401, 403, 5xx …).
    /// Ordinary and retryable: there is no close code.
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// TCP, TLS or upgrade IO failed (refused, reset, DNS …).
    Io {
        /// What kind of failure it was. Traces recorded before the kind
        /// existed read as [`IoFailure::Other`]; `other` is not written.
        #[serde(default, skip_serializing_if = "IoFailure::is_other")]
        error: IoFailure,
        /// A short description (never holds the token).
        message: String,
    },
    /// The connector accepted the upgrade and closed at once; the close
    /// frame's code and reason are the verdict (e.g. 4401 `unauthorized`).
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// The kind of an IO failure of a dial ([`DialFailure::Io`]), as the shell
/// classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IoFailure {
    /// Nothing listens at the address (TCP connection refused).
    Refused,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (an untrusted certificate, a protocol error).
    Tls,
    /// The peer reset or closed the connection during the dial.
    Reset,
    /// The operating system gave up connecting (not the link's own connect
    /// timeout, which is a timer of the core).
    Timeout,
    /// Anything else.
    #[default]
    Other,
}

impl IoFailure {
    /// Every kind, in a fixed order.
    pub const ALL: [IoFailure; 6] = [
        IoFailure::Refused,
        IoFailure::Dns,
        IoFailure::Tls,
        IoFailure::Reset,
        IoFailure::Timeout,
        IoFailure::Other,
    ];

    /// The kind's name, as traces, metrics labels and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            IoFailure::Refused => "refused",
            IoFailure::Dns => "dns",
            IoFailure::Tls => "tls",
            IoFailure::Reset => "reset",
            IoFailure::Timeout => "timeout",
            IoFailure::Other => "other",
        }
    }

    /// Whether this is [`IoFailure::Other`] (which traces leave out).
    pub fn is_other(&self) -> bool {
        *self == IoFailure::Other
    }
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
