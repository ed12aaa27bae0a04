//! Commands: everything the core asks the outside world to do.
//!
//! The shell drains them with [`Link::poll_command`](crate::Link::poll_command)
//! and executes them in order. Commands that act on a dial or a
//! connection carry its [`Generation`].
//!
//! ```
//! use relay_link::{LinkState, PlatformState, Settlement};
//!
//! // What the application sees for a request lost in a drop.
//! let lost = Settlement::ConnectionLost;
//! assert!(lost.is_ambiguous());
//! assert_eq!(lost.to_json()["error"], "relay transport connection lost");
//!
//! assert_eq!(LinkState::Handshaken.name(), "handshaken");
//! assert!(LinkState::Disabled.is_terminal());
//! assert_eq!(PlatformState::Retrying.name(), "retrying");
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::protocol::{
    Descriptor, InboundFrame, InterruptInboundFrame, OutgoingFrame, PassthroughFrame,
};
use crate::{Generation, RequestId};

/// The message of the fatal report a revoked link gives the application.
pub const RELAY_DISABLED_MESSAGE: &str =
    "Relay disabled (opted out \u{2014} recreate the instance to re-enable)";

/// The code of the fatal report a revoked link gives the application.
pub const RELAY_DISABLED_CODE: &str = "relay_disabled";

/// One thing the core asks the shell (or the application) to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// Open a WebSocket to the configured URL. When `auth` is true, mint a
    /// fresh token *now* ([`Config::mint_token`](crate::config::Config::mint_token))
    /// and send it as `Authorization: Bearer …`; never reuse an older one.
    Dial {
        /// The generation of this dial; every answer carries it back.
        gen: Generation,
        /// Whether the upgrade carries an `Authorization` header.
        auth: bool,
    },
    /// Abandon dial `gen` (it timed out, or the link is closing). A socket
    /// it opens later must be closed without being reported.
    CancelDial {
        /// The dial to abandon.
        gen: Generation,
    },
    /// Write one frame (one WebSocket text message) on connection `gen`.
    Send {
        /// The connection to write on.
        gen: Generation,
        /// The frame.
        frame: OutgoingFrame,
    },
    /// Send a WebSocket ping on connection `gen` (keepalive).
    Ping {
        /// The connection to ping.
        gen: Generation,
    },
    /// Close connection `gen` with this code and reason. The core already
    /// treats the connection as gone; no [`Input::SocketClosed`](crate::Input::SocketClosed)
    /// is expected for it.
    Close {
        /// The connection to close.
        gen: Generation,
        /// The WebSocket close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// A capability descriptor arrived on connection `gen` (the first one of
    /// a connection completed its handshake).
    Descriptor {
        /// The connection it arrived on.
        gen: Generation,
        /// The sanitised descriptor.
        descriptor: Box<Descriptor>,
    },
    /// Deliver an inbound chat message to the application. When it has a
    /// `buffer_id`, the application answers with
    /// [`Input::Accepted`](crate::Input::Accepted) once it took it.
    Inbound(Box<InboundFrame>),
    /// Deliver a passthrough forward to the application (same acceptance
    /// rule as [`Command::Inbound`]).
    Passthrough(Box<PassthroughFrame>),
    /// Deliver an `interrupt_inbound` to the application.
    InterruptInbound(InterruptInboundFrame),
    /// The answer to [`Input::GoIdle`](crate::Input::GoIdle) or
    /// [`Input::GoDormant`](crate::Input::GoDormant).
    IdleOutcome {
        /// Whether the connector acknowledged `going_idle`.
        acked: bool,
    },
    /// Settle request `id`: it is finished, exactly once.
    Settle {
        /// The request.
        id: RequestId,
        /// How it ended.
        settlement: Settlement,
    },
    /// Tell the application about a non-retryable error. Answer with
    /// [`Input::FatalAcknowledged`](crate::Input::FatalAcknowledged).
    Fatal(FatalReport),
    /// The link's state changed.
    StateChanged(LinkState),
    /// The platform state (what a dashboard shows) changed.
    PlatformState(PlatformState),
}

/// How a request was settled.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Settlement {
    /// The connector's `result` object.
    Result(Map<String, Value>),
    /// Written, but no result within the outbound timeout (ambiguous).
    TimedOut,
    /// Written, then the connection dropped (ambiguous).
    ConnectionLost,
    /// Never written: the link is between connections.
    NotConnected,
    /// The link was disconnected or is disabled; `ambiguous` when the frame
    /// had been written.
    Closed {
        /// Whether the frame had reached the wire.
        ambiguous: bool,
    },
    /// Never written: the request id is already pending.
    DuplicateId,
    /// Never written: the `outbound` line would be longer than the
    /// connector's frame limit ([`Config::max_frame_size`](crate::config::Config::max_frame_size)).
    /// The connection is unaffected.
    TooLarge,
}

impl Settlement {
    /// The settled result object, exactly as the contract spells it: the
    /// connector's `result`, or [`RequestError::to_json`](crate::RequestError::to_json).
    pub fn to_json(&self) -> Value {
        match self.clone().into_result() {
            Ok(map) => Value::Object(map),
            Err(error) => error.to_json(),
        }
    }

    /// Whether the frame reached the wire and no result came back.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            Settlement::TimedOut
                | Settlement::ConnectionLost
                | Settlement::Closed { ambiguous: true }
        )
    }

    /// A short name for traces.
    pub fn name(&self) -> &'static str {
        match self {
            Settlement::Result(_) => "result",
            Settlement::TimedOut => "timed_out",
            Settlement::ConnectionLost => "connection_lost",
            Settlement::NotConnected => "not_connected",
            Settlement::Closed { ambiguous: true } => "closed_ambiguous",
            Settlement::Closed { ambiguous: false } => "closed",
            Settlement::DuplicateId => "duplicate_id",
            Settlement::TooLarge => "too_large",
        }
    }
}

/// A non-retryable error reported to the application, once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FatalReport {
    /// A stable code, e.g. [`RELAY_DISABLED_CODE`].
    pub code: &'static str,
    /// Always false: retrying won't help.
    pub retryable: bool,
    /// A human-readable message.
    pub message: &'static str,
}

impl FatalReport {
    /// The report of a revoked credential.
    pub fn relay_disabled() -> Self {
        Self {
            code: RELAY_DISABLED_CODE,
            retryable: false,
            message: RELAY_DISABLED_MESSAGE,
        }
    }
}

/// The lifecycle state of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkState {
    /// Created, not started yet.
    Unstarted,
    /// Dialing, or open and waiting for the first descriptor.
    Connecting,
    /// The first descriptor of the connection arrived.
    Handshaken,
    /// Waiting out a backoff delay.
    Retrying,
    /// Went dormant on request; re-dials on the dormant cadence.
    Dormant,
    /// A re-dial is due but the application holds re-dials.
    Held,
    /// The credential was judged revoked; waiting for the application to
    /// acknowledge the fatal report.
    Revoked,
    /// Terminal: revoked and reported. Never dials again.
    Disabled,
    /// Terminal: deliberately disconnected.
    Closed,
}

impl LinkState {
    /// The state's name as the CLI and traces print it.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Unstarted => "unstarted",
            LinkState::Connecting => "connecting",
            LinkState::Handshaken => "handshaken",
            LinkState::Retrying => "retrying",
            LinkState::Dormant => "dormant",
            LinkState::Held => "held",
            LinkState::Revoked => "revoked",
            LinkState::Disabled => "disabled",
            LinkState::Closed => "closed",
        }
    }

    /// Whether the link will never dial again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LinkState::Revoked | LinkState::Disabled | LinkState::Closed
        )
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The platform state, as a dashboard shows it (contract §5 rule 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlatformState {
    /// The link's first connection, before it ever handshook.
    Connecting,
    /// Handshaken.
    Connected,
    /// Not handshaken after a connection was lost or refused.
    Retrying,
    /// Revoked: a neutral off state, not an error.
    Disabled,
    /// Any other non-retryable error. The core never reports it itself;
    /// it exists for embedders that stop a link for their own reasons.
    Fatal,
    /// Deliberately disconnected.
    Disconnected,
}

impl PlatformState {
    /// The name as the CLI prints it.
    pub fn name(self) -> &'static str {
        match self {
            PlatformState::Connecting => "connecting",
            PlatformState::Connected => "connected",
            PlatformState::Retrying => "retrying",
            PlatformState::Disabled => "disabled",
            PlatformState::Fatal => "fatal",
            PlatformState::Disconnected => "disconnected",
        }
    }
}

impl fmt::Display for PlatformState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
