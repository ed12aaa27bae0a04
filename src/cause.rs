//! Why the link is where it is: the [`Cause`] of its last state change.
//!
//! The core knows every reason a connection or a dial ends: the close
//! code and reason the connector sent, the dial failure the shell
//! reported ([`DialFailure`], with its [`IoFailure`] kind), which of its
//! own timers fired, a protocol error, the revocation judgement, and the
//! application's own requests (dormancy, disconnect). [`Link::cause`]
//! answers with the reason the last connection (or dial) ended; it is
//! `None` while the link is handshaken and before anything went wrong.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use relay_link::{config::Config, Cause, DialFailure, Input, IoFailure, Link, LinkState};
//!
//! let config = Config::builder("http://127.0.0.1:8799").build()?;
//! let t0 = Instant::now();
//! let mut link = Link::new(config, 7, t0);
//! link.handle_input(Input::Start, t0);
//! let gen = link.generation();
//! let failure = DialFailure::Io { error: IoFailure::Refused, message: "os error 111".into() };
//! link.handle_input(Input::DialFailed { gen, failure }, t0);
//!
//! assert_eq!(link.state(), LinkState::Retrying);
//! let cause = link.cause().expect("the dial failed");
//! assert_eq!(cause.to_string(), "connection refused (127.0.0.1:8799)");
//! assert!(link.retry_in().is_some_and(|delay| delay > Duration::ZERO));
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```
//!
//! [`Link::cause`]: crate::Link::cause

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::input::{DialFailure, Input, IoFailure};

/// Why a connection or a dial ended, or why the link stopped dialing.
///
/// Serialises as an object with a `kind` (`{"kind":"dial_failed",
/// "error":"refused", …}`); [`Display`](fmt::Display) gives one line for
/// a human (`connection refused (127.0.0.1:8799)`). Neither form ever
/// holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// The dial failed before the WebSocket upgrade (TCP, DNS, TLS).
    DialFailed {
        /// The kind of failure.
        error: IoFailure,
        /// The `host:port` dialed.
        address: String,
        /// The shell's description of the failure.
        message: String,
    },
    /// The connector refused the upgrade with an HTTP status.
    Rejected {
        /// The HTTP status (401, 403, 503 …).
        status: u16,
        /// The `host:port` dialed.
        address: String,
    },
    /// One of the link's own timers ran out, and the link gave up on the
    /// dial or the connection.
    TimedOut {
        /// Which timer.
        phase: Phase,
        /// The configured timeout, in milliseconds.
        after_ms: u64,
    },
    /// The connector closed the connection with a close frame.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason (empty when there was none).
        reason: String,
    },
    /// The connection ended without a close frame (end of stream, reset).
    Lost {
        /// The shell's description.
        message: String,
    },
    /// The connector sent a frame the link cannot accept; the link closed
    /// the connection with 1002.
    ProtocolError {
        /// What was wrong with it (never the frame's content).
        message: String,
    },
    /// A line or message was larger than the frame limit; the link closed
    /// the connection with 1009.
    TooLarge,
    /// The credential was judged revoked (a second 4401): the link is
    /// disabled and never dials again.
    Revoked {
        /// The close code of the second strike (4401).
        code: u16,
        /// Its reason.
        reason: String,
    },
    /// The application sent the link dormant.
    Dormant,
    /// The application disconnected the link.
    Disconnected,
}

/// Which of the link's timers ran out ([`Cause::TimedOut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// No open socket within the connect timeout.
    Connect,
    /// No descriptor within the handshake timeout.
    Handshake,
    /// Nothing heard from the connector within the idle timeout.
    Idle,
}

impl Phase {
    /// The phase's name (`connect`, `handshake`, `idle`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Handshake => "handshake",
            Phase::Idle => "idle",
        }
    }
}

impl Cause {
    /// A short stable name of the cause's kind, the `kind` of its serde
    /// form (`dial_failed`, `rejected`, `timed_out`, `closed`, `lost`,
    /// `protocol_error`, `too_large`, `revoked`, `dormant`,
    /// `disconnected`).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::DialFailed { .. } => "dial_failed",
            Cause::Rejected { .. } => "rejected",
            Cause::TimedOut { .. } => "timed_out",
            Cause::Closed { .. } => "closed",
            Cause::Lost { .. } => "lost",
            Cause::ProtocolError { .. } => "protocol_error",
            Cause::TooLarge => "too_large",
            Cause::Revoked { .. } => "revoked",
            Cause::Dormant => "dormant",
            Cause::Disconnected => "disconnected",
        }
    }

    /// Whether this is a failure (something an operator may want to look
    /// at), as opposed to the application's own dormancy or disconnect.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Cause::Dormant | Cause::Disconnected)
    }
}

/// A duration for a human, as the crate's messages spell it (a cause's
/// timeout, a state change's retry delay): `800 ms`, `1.2 s`, `10 s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(relay_link::cause::human(Duration::from_millis(1200)), "1.2 s");
/// ```
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::DialFailed {
                error,
                address,
                message,
            } => match error {
                IoFailure::Refused => write!(f, "connection refused ({address})"),
                IoFailure::Dns => write!(f, "DNS lookup failed ({address}): {message}"),
                IoFailure::Tls => write!(f, "TLS error ({address}): {message}"),
                IoFailure::Reset => write!(f, "connection reset ({address})"),
                IoFailure::Timeout => write!(f, "connect timed out ({address})"),
                IoFailure::Other => write!(f, "dial failed ({address}): {message}"),
            },
            Cause::Rejected { status, address } => {
                write!(f, "upgrade rejected with HTTP {status} ({address})")
            }
            Cause::TimedOut { phase, after_ms } => {
                let after = human(Duration::from_millis(*after_ms));
                match phase {
                    Phase::Connect => write!(f, "connect timeout: no connection within {after}"),
                    Phase::Handshake => {
                        write!(f, "handshake timeout: no descriptor within {after}")
                    }
                    Phase::Idle => write!(f, "idle timeout: nothing heard for {after}"),
                }
            }
            Cause::Closed { code, reason } if reason.is_empty() => write!(f, "closed {code}"),
            Cause::Closed { code, reason } => write!(f, "closed {code} {reason}"),
            Cause::Lost { message } => write!(f, "connection lost: {message}"),
            Cause::ProtocolError { message } => write!(f, "protocol error: {message}"),
            Cause::TooLarge => f.write_str("frame too large"),
            Cause::Revoked { code, reason } => write!(f, "credential revoked ({code} {reason})"),
            Cause::Dormant => f.write_str("dormant on request"),
            Cause::Disconnected => f.write_str("disconnected on request"),
        }
    }
}

/// The `host:port` of a normalised relay URL (`ws://` or `wss://`).
pub(crate) fn address_of(url: &str) -> String {
    let (secure, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme == "wss", rest),
        None => (false, url),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if secure { 443 } else { 80 })
    }
}

/// The cause of a dial failure reported by the shell.
pub(crate) fn of_dial_failure(failure: &DialFailure, url: &str) -> Cause {
    match failure {
        DialFailure::Http { status } => Cause::Rejected {
            status: *status,
            address: address_of(url),
        },
        DialFailure::Io { error, message } => Cause::DialFailed {
            error: *error,
            address: address_of(url),
            message: message.clone(),
        },
        DialFailure::Closed { code, reason } => Cause::Closed {
            code: *code,
            reason: reason.clone(),
        },
    }
}

/// The cause an input gives when it ends the live connection or dial
/// (`None` for inputs that cannot end one by themselves).
pub(crate) fn of_input(input: &Input, url: &str) -> Option<Cause> {
    Some(match input {
        Input::DialFailed { failure, .. } => of_dial_failure(failure, url),
        Input::SocketClosed {
            code: Some(code),
            reason,
            ..
        } => Cause::Closed {
            code: *code,
            reason: reason.clone(),
        },
        Input::SocketClosed {
            code: None, reason, ..
        } => Cause::Lost {
            message: if reason.is_empty() {
                "no close frame".to_owned()
            } else {
                reason.clone()
            },
        },
        Input::TooLarge { .. } => Cause::TooLarge,
        Input::Disconnect { .. } => Cause::Disconnected,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_has_the_scheme_s_default_port_when_the_url_has_none() {
        assert_eq!(address_of("ws://127.0.0.1:8799/relay"), "127.0.0.1:8799");
        assert_eq!(
            address_of("wss://connector.example/relay"),
            "connector.example:443"
        );
        assert_eq!(
            address_of("ws://connector.example/a/relay"),
            "connector.example:80"
        );
        assert_eq!(address_of("ws://[::1]:9/relay"), "[::1]:9");
        assert_eq!(address_of("wss://[::1]/relay"), "[::1]:443");
    }

    #[test]
    fn a_cause_reads_as_one_line_for_a_human() {
        let refused = Cause::DialFailed {
            error: IoFailure::Refused,
            address: "127.0.0.1:8799".into(),
            message: "connect 127.0.0.1:8799: Connection refused (os error 111)".into(),
        };
        assert_eq!(refused.to_string(), "connection refused (127.0.0.1:8799)");
        let timed_out = Cause::TimedOut {
            phase: Phase::Handshake,
            after_ms: 1500,
        };
        assert_eq!(
            timed_out.to_string(),
            "handshake timeout: no descriptor within 1.5 s"
        );
        let closed = Cause::Closed {
            code: 1011,
            reason: "overloaded".into(),
        };
        assert_eq!(closed.to_string(), "closed 1011 overloaded");
        let rejected = Cause::Rejected {
            status: 503,
            address: "h:1".into(),
        };
        assert_eq!(rejected.to_string(), "upgrade rejected with HTTP 503 (h:1)");
    }

    #[test]
    fn a_cause_serialises_with_its_kind_and_reads_back() {
        let cause = Cause::DialFailed {
            error: IoFailure::Tls,
            address: "h:443".into(),
            message: "invalid peer certificate".into(),
        };
        let json = serde_json::to_value(&cause).expect("serialises");
        assert_eq!(json["kind"], "dial_failed");
        assert_eq!(json["error"], "tls");
        let back: Cause = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, cause);
        let timed_out = serde_json::to_value(Cause::TimedOut {
            phase: Phase::Idle,
            after_ms: 60_000,
        })
        .expect("serialises");
        assert_eq!(
            timed_out,
            serde_json::json!({"kind": "timed_out", "phase": "idle", "after_ms": 60000})
        );
    }

    #[test]
    fn durations_read_in_the_unit_a_human_expects() {
        assert_eq!(human(Duration::from_millis(800)), "800 ms");
        assert_eq!(human(Duration::from_millis(1200)), "1.2 s");
        assert_eq!(human(Duration::from_secs(1)), "1 s", "a whole second");
        assert_eq!(human(Duration::from_secs(10)), "10 s");
    }

    /// One cause of every kind.
    fn one_of_each() -> Vec<Cause> {
        vec![
            Cause::DialFailed {
                error: IoFailure::Dns,
                address: "h:80".into(),
                message: "no such host".into(),
            },
            Cause::Rejected {
                status: 401,
                address: "h:80".into(),
            },
            Cause::TimedOut {
                phase: Phase::Connect,
                after_ms: 5000,
            },
            Cause::Closed {
                code: 1000,
                reason: String::new(),
            },
            Cause::Lost {
                message: "eof".into(),
            },
            Cause::ProtocolError {
                message: "not json".into(),
            },
            Cause::TooLarge,
            Cause::Revoked {
                code: 4401,
                reason: "revoked".into(),
            },
            Cause::Dormant,
            Cause::Disconnected,
        ]
    }

    #[test]
    fn a_cause_s_kind_is_the_kind_its_serde_form_carries() {
        let kinds: Vec<&str> = one_of_each().iter().map(Cause::kind).collect();
        assert_eq!(
            kinds,
            [
                "dial_failed",
                "rejected",
                "timed_out",
                "closed",
                "lost",
                "protocol_error",
                "too_large",
                "revoked",
                "dormant",
                "disconnected"
            ]
        );
        for cause in one_of_each() {
            let json = serde_json::to_value(&cause).expect("serialises");
            assert_eq!(json["kind"], cause.kind(), "{cause:?}");
        }
    }

    #[test]
    fn a_phase_s_name_is_its_serde_spelling() {
        for (phase, name) in [
            (Phase::Connect, "connect"),
            (Phase::Handshake, "handshake"),
            (Phase::Idle, "idle"),
        ] {
            assert_eq!(phase.name(), name);
            assert_eq!(serde_json::to_value(phase).expect("serialises"), name);
        }
    }

    #[test]
    fn a_close_without_a_reason_reads_without_a_trailing_space() {
        let closed = Cause::Closed {
            code: 1000,
            reason: String::new(),
        };
        assert_eq!(closed.to_string(), "closed 1000");
    }
}
