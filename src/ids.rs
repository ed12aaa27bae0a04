//! Small identifier types shared by the whole core.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The generation of a dial.
///
/// Every [`Command::Dial`](crate::Command::Dial) carries a fresh, strictly
/// increasing generation; every input that reports on a dial or on the
/// connection it opened carries it back. Inputs that name an older
/// generation are *stale*: the core counts and ignores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Generation(pub u64);

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id of one outbound request (`requestId` on the wire).
///
/// The embedder (or the shell) chooses it; it must be unique among the
/// link's pending requests. 32 lowercase hex characters is conventional.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

impl RequestId {
    /// Wraps a string as a request id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}
