//! The shell's own counters.

#[cfg(doc)]
use super::{Options, RelayLink};

/// A snapshot of the shell's own counters ([`RelayLink::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShellStats {
    /// Tasks of this link alive now: its driver (1 while it runs; the dial,
    /// the connection and the close handshakes run inside it).
    pub live_tasks: usize,
    /// Connections finishing a close handshake (each within its grace).
    pub closing_connections: usize,
    /// Events waiting in the channel for the application; never more than
    /// [`event_capacity`](ShellStats::event_capacity).
    pub queued_events: usize,
    /// Events decoded from the last socket message that did not fit in
    /// the channel (held by the driver, which reads no more until they
    /// fit).
    pub staged_events: usize,
    /// The channel's bound ([`Options::event_capacity`]).
    pub event_capacity: usize,
}
