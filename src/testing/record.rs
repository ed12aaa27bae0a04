//! What the test connector saw, for assertions: [`Seen`] and its records.
//!
//! Records never hold a token or a secret: a dial records only whether an
//! `Authorization` header was present, whether it verified, and the expiry
//! it claimed; its other request headers are kept ([`Dial::headers`]).

use serde_json::Value;

/// Identifies one accepted upgrade (WebSocket connection) of a connector.
pub type ConnectionId = u64;

/// The gateway id used for upgrades that carry no (decodable) token.
pub const ANONYMOUS: &str = "";

/// A snapshot of everything the connector saw, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Seen {
    /// Every dial: each TCP connection that reached the connector.
    pub dials: Vec<Dial>,
    /// Every accepted upgrade (including ones refused with a close code).
    pub connections: Vec<SeenConnection>,
    /// Every frame received from a gateway, as JSON, on any connection.
    pub frames: Vec<SeenFrame>,
    /// Every close frame a gateway sent.
    pub closes: Vec<SeenClose>,
    /// The `bufferId` of every `inbound_ack` received, in order.
    pub acks: Vec<String>,
    /// Received lines that were not JSON objects.
    pub unparsable_lines: usize,
    /// WebSocket pings received (each answered with a pong unless stalled).
    pub pings: usize,
}

impl Seen {
    /// The received frames whose `type` is `kind`.
    pub fn frames_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a SeenFrame> + 'a {
        self.frames.iter().filter(move |f| f.kind() == Some(kind))
    }

    /// The dials that claimed `gateway_id`.
    pub fn dials_for<'a>(&'a self, gateway_id: &'a str) -> impl Iterator<Item = &'a Dial> + 'a {
        self.dials
            .iter()
            .filter(move |d| d.gateway_id.as_deref() == Some(gateway_id))
    }

    /// How many connections of `gateway` are still open.
    pub fn open_connections(&self, gateway: &str) -> usize {
        self.connections
            .iter()
            .filter(|c| c.open && c.gateway == gateway)
            .count()
    }
}

/// One dial (TCP connection) and what the connector made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dial {
    /// The gateway id the token claimed; `None` without a decodable token.
    pub gateway_id: Option<String>,
    /// Whether the upgrade carried an `Authorization` header.
    pub auth_header_present: bool,
    /// Whether the upgrade passed authentication: a valid, unexpired token
    /// of a known, unrevoked gateway, or no header while anonymous upgrades
    /// are allowed.
    pub authorized: bool,
    /// The expiry the token claimed (`0` = never), when it decoded.
    pub token_exp: Option<i64>,
    /// The request path (without query); empty when no request was read.
    pub path: String,
    /// The upgrade request's headers (a repeated header once per value),
    /// names in lower case, values decoded lossily as UTF-8; every header
    /// except `Authorization`, which is never recorded. Empty when no
    /// request was read. Read one with [`header`](Dial::header).
    pub headers: Vec<(String, String)>,
    /// What the connector did.
    pub outcome: DialOutcome,
    /// The connection, when the upgrade was accepted.
    pub connection: Option<ConnectionId>,
}

impl Dial {
    /// The first recorded value of the request header `name` (any case),
    /// e.g. `dial.header("user-agent")`; `None` when absent (always for
    /// `Authorization`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the connector did with a dial.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialOutcome {
    /// Upgraded and served.
    Accepted,
    /// Upgraded, then closed at once with this code and reason (4401 for an
    /// auth refusal, or a scripted [`refuse_next`](super::Connector::refuse_next)).
    Refused {
        /// The close code sent.
        code: u16,
        /// The close reason sent.
        reason: String,
    },
    /// Refused at the HTTP level (no upgrade): 404 for a path other than
    /// `/relay`, or a scripted [`reject_http`](super::Connector::reject_http).
    HttpRejected {
        /// The HTTP status sent.
        status: u16,
    },
    /// The TLS or HTTP exchange failed or timed out before a verdict.
    Failed,
}

/// One accepted upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenConnection {
    /// Its id.
    pub id: ConnectionId,
    /// The gateway it belongs to ([`ANONYMOUS`] without a token).
    pub gateway: String,
    /// Whether it was refused with a close code right after the upgrade.
    pub refused: bool,
    /// Whether it is still open.
    pub open: bool,
}

/// A frame received from a gateway.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SeenFrame {
    /// The gateway ([`ANONYMOUS`] without a token).
    pub gateway: String,
    /// The connection it arrived on.
    pub connection: ConnectionId,
    /// The frame, as parsed JSON (always an object).
    pub frame: Value,
}

impl SeenFrame {
    /// The frame's `type`, when it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.frame.get("type").and_then(Value::as_str)
    }
}

/// A close frame received from a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenClose {
    /// The gateway ([`ANONYMOUS`] without a token).
    pub gateway: String,
    /// The connection it arrived on.
    pub connection: ConnectionId,
    /// The close code; `None` for a close frame without a payload.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
    /// Whether it answered a close the connector sent first.
    pub in_reply: bool,
}
