//! Classifying a dial's IO failure into an [`IoFailure`] kind, for the
//! core's [`DialFailure::Io`].
//!
//! The messages never hold the token: they are built from the address and
//! the error, never from the request.

use std::io;

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::Error as WsError;

use crate::input::{DialFailure, IoFailure};

/// The kind of a TCP-level IO error. Name resolution failures come from
/// the resolver, which std (used by both runtimes) reports with a fixed
/// message and no kind of their own.
pub(crate) fn kind_of(error: &io::Error) -> IoFailure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => IoFailure::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => IoFailure::Reset,
        io::ErrorKind::TimedOut => IoFailure::Timeout,
        _ if is_resolver_error(error) => IoFailure::Dns,
        _ => IoFailure::Other,
    }
}

/// Whether `error` is a failed name lookup (std's `getaddrinfo` and
/// `to_socket_addrs` errors).
fn is_resolver_error(error: &io::Error) -> bool {
    let text = error.to_string();
    text.contains("failed to lookup address")
        || text.contains("Name or service not known")
        || text.contains("nodename nor servname")
        || text.contains("No such host is known")
        || text.contains("could not resolve to any addresses")
}

/// The TCP connect to `address` failed.
pub(crate) fn connect(address: &str, error: &io::Error) -> DialFailure {
    DialFailure::Io {
        error: kind_of(error),
        message: format!("connect {address}: {error}"),
    }
}

/// The TLS handshake failed (an untrusted certificate, a bad name …).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn tls(message: impl std::fmt::Display) -> DialFailure {
    DialFailure::Io {
        error: IoFailure::Tls,
        message: format!("tls: {message}"),
    }
}

/// Anything else that is not the connector's answer.
pub(crate) fn other(message: String) -> DialFailure {
    DialFailure::Io {
        error: IoFailure::Other,
        message,
    }
}

/// The WebSocket upgrade failed (an HTTP status is the connector's
/// answer; everything else is IO).
pub(crate) fn upgrade(error: WsError) -> DialFailure {
    let kind = match &error {
        WsError::Http(response) => {
            return DialFailure::Http {
                status: response.status().as_u16(),
            }
        }
        WsError::Io(e) => kind_of(e),
        WsError::Tls(_) => IoFailure::Tls,
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::HandshakeIncomplete) => IoFailure::Reset,
        _ => IoFailure::Other,
    };
    DialFailure::Io {
        error: kind,
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_their_kind() {
        let of = |kind| kind_of(&io::Error::from(kind));
        assert_eq!(of(io::ErrorKind::ConnectionRefused), IoFailure::Refused);
        assert_eq!(of(io::ErrorKind::ConnectionReset), IoFailure::Reset);
        assert_eq!(of(io::ErrorKind::UnexpectedEof), IoFailure::Reset);
        assert_eq!(of(io::ErrorKind::TimedOut), IoFailure::Timeout);
        assert_eq!(of(io::ErrorKind::PermissionDenied), IoFailure::Other);
    }

    #[test]
    fn a_failed_name_lookup_is_dns() {
        let lookup =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(kind_of(&lookup), IoFailure::Dns);
    }

    #[test]
    fn a_refused_connect_names_the_address_and_the_kind() {
        let failure = connect(
            "127.0.0.1:9",
            &io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        let DialFailure::Io { error, message } = failure else {
            panic!("an IO failure");
        };
        assert_eq!(error, IoFailure::Refused);
        assert!(message.starts_with("connect 127.0.0.1:9: "), "{message}");
    }
}
