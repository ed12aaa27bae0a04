//! The link's own failures to complete a request: [`RequestError`].

use serde_json::{json, Map, Value};

use crate::command::Settlement;

/// Why the link could not get the connector's answer to a request.
///
/// A request ends in one of two ways. The connector answered: its `result`
/// object, whatever it says (`"success": false` included), is the `Ok`
/// value. Or the link could not get an answer: a `RequestError` says why
/// and whether the frame may have reached the connector
/// ([`is_ambiguous`](RequestError::is_ambiguous)). A connector's failure
/// and a transport failure can never be confused.
///
/// Its [`Display`](std::fmt::Display) is the contract's `error` string and
/// [`to_json`](RequestError::to_json) the contract's whole result object,
/// the same as [`Settlement::to_json`].
///
/// ```
/// use relay_link::serde_json::{json, Value};
/// use relay_link::{RequestError, Settlement};
///
/// let error = RequestError::ConnectionLost;
/// assert!(error.is_ambiguous());
/// assert_eq!(error.to_string(), "relay transport connection lost");
/// assert_eq!(
///     error.to_json(),
///     json!({"success": false, "error": "relay transport connection lost", "ambiguous": true}),
/// );
/// assert_eq!(Settlement::ConnectionLost.into_result(), Err(error));
///
/// // The connector's own failure is an answer, so it is `Ok`.
/// let answer = json!({"success": false, "error": "channel not found"});
/// let settled = Settlement::Result(answer.as_object().cloned().unwrap_or_default());
/// assert_eq!(settled.into_result().map(Value::Object), Ok(answer));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Never written: the link is between connections (or not handshaken
    /// yet).
    #[error("relay transport not connected")]
    NotConnected,
    /// Written, then the connection ended before the result came
    /// (ambiguous).
    #[error("relay transport connection lost")]
    ConnectionLost,
    /// Written, but no result within the outbound timeout (ambiguous).
    #[error("relay outbound timed out")]
    TimedOut,
    /// The link was disconnected or is disabled; `ambiguous` when the
    /// frame had been written.
    #[error("relay transport closed")]
    Closed {
        /// Whether the frame had reached the wire.
        ambiguous: bool,
    },
    /// Never written: the `outbound` line would be longer than the
    /// connector's frame limit. The connection is unaffected.
    #[error("relay frame too large")]
    TooLarge,
    /// Never written: the request id is already pending.
    #[error("relay request id already pending")]
    DuplicateId,
    /// Never queued: the action does not serialise to a JSON object with
    /// a string `op`. The message says what is wrong.
    #[error("relay action invalid: {0}")]
    InvalidAction(String),
}

impl RequestError {
    /// Whether the frame reached the wire and no result came back: the
    /// connector may or may not have acted on it.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            RequestError::TimedOut
                | RequestError::ConnectionLost
                | RequestError::Closed { ambiguous: true }
        )
    }

    /// The result object the contract gives for this failure:
    /// `{"success": false, "error": <Display>}`, with `"ambiguous": true`
    /// exactly when [`is_ambiguous`](RequestError::is_ambiguous).
    pub fn to_json(&self) -> Value {
        let mut object = json!({"success": false, "error": self.to_string()});
        if self.is_ambiguous() {
            object["ambiguous"] = Value::Bool(true);
        }
        object
    }
}

impl Settlement {
    /// The settlement as the application sees it: the connector's result
    /// object, or the link's failure.
    pub fn into_result(self) -> Result<Map<String, Value>, RequestError> {
        Err(match self {
            Settlement::Result(map) => return Ok(map),
            Settlement::TimedOut => RequestError::TimedOut,
            Settlement::ConnectionLost => RequestError::ConnectionLost,
            Settlement::NotConnected => RequestError::NotConnected,
            Settlement::Closed { ambiguous } => RequestError::Closed { ambiguous },
            Settlement::DuplicateId => RequestError::DuplicateId,
            Settlement::TooLarge => RequestError::TooLarge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failed settlement and the contract's result object for it.
    fn contract_table() -> Vec<(Settlement, Value)> {
        vec![
            (
                Settlement::TimedOut,
                json!({"success": false, "error": "relay outbound timed out", "ambiguous": true}),
            ),
            (
                Settlement::ConnectionLost,
                json!({"success": false, "error": "relay transport connection lost", "ambiguous": true}),
            ),
            (
                Settlement::NotConnected,
                json!({"success": false, "error": "relay transport not connected"}),
            ),
            (
                Settlement::Closed { ambiguous: true },
                json!({"success": false, "error": "relay transport closed", "ambiguous": true}),
            ),
            (
                Settlement::Closed { ambiguous: false },
                json!({"success": false, "error": "relay transport closed"}),
            ),
            (
                Settlement::DuplicateId,
                json!({"success": false, "error": "relay request id already pending"}),
            ),
            (
                Settlement::TooLarge,
                json!({"success": false, "error": "relay frame too large"}),
            ),
        ]
    }

    #[test]
    fn every_failed_settlement_becomes_an_error_with_the_contracts_object_and_ambiguity() {
        for (settlement, object) in contract_table() {
            let error = settlement.clone().into_result().unwrap_err();
            assert_eq!(error.to_json(), object, "{settlement:?}");
            assert_eq!(settlement.to_json(), object, "{settlement:?}");
            assert_eq!(error.to_string(), object["error"], "{settlement:?}");
            assert_eq!(error.is_ambiguous(), object["ambiguous"] == true);
            assert_eq!(error.is_ambiguous(), settlement.is_ambiguous());
        }
    }

    #[test]
    fn a_connector_failure_is_an_ok_result() {
        let answer = json!({"success": false, "error": "channel not found"});
        let map = answer.as_object().cloned().unwrap_or_default();
        assert_eq!(Settlement::Result(map.clone()).into_result(), Ok(map));
    }
}
