//! The smol shell: runs a [`Link`](crate::Link) against real sockets.
//!
//! A link runs as one future, its [`LinkDriver`], which owns the core (no
//! lock around it), the dial in progress, the live connection and the
//! close handshakes. It executes the core's commands (dial with a token
//! minted at dial time, write frames, close, sleep until the single next
//! deadline of [`Link::poll_timeout`](crate::Link::poll_timeout)) and feeds
//! what happens back in as inputs; writes never wait for reads, so a
//! stalled connector can never block the link. [`RelayLink::spawn`] runs
//! the driver on smol's global executor; [`RelayLink::new`] hands it to the
//! application to spawn on its own executor. The one-dialer rule, backoff
//! and generations live in the core only: the shell has no retry logic of
//! its own.
//!
//! The application holds a cloneable [`RelayLink`] handle (requests) and
//! one [`Events`] stream (deliveries, state changes, the fatal report).
//!
//! * **Backpressure.** The event stream is bounded
//!   ([`Options::event_capacity`]). When it is full the link stops reading
//!   its socket, so the connector's frames wait in TCP, not in memory;
//!   timers, keepalive pings, writes and request settlement go on, and
//!   nothing is dropped. Since nothing is read meanwhile, a stream held
//!   back for longer than the idle timeout looks like a silent peer: the
//!   connection closes with 1001 `idle timeout`, what waited in TCP is
//!   discarded (buffered deliveries come again; results settle their
//!   requests as `connection_lost`) and the link reconnects.
//! * **Closing.** Every close the peer starts is echoed; every close the
//!   core starts is flushed and awaited within a grace (2 s, or what is
//!   left of a disconnect's budget). [`RelayLink::disconnect`] returns once
//!   its close frame is flushed and says how it ended ([`Disconnected`]).
//! * **Dropping.** When every handle, unaccepted [`Acceptance`] and the
//!   [`Events`] stream are gone, the link disconnects on its own and never
//!   dials again.
//!
//! [`RelayLink::spawn`] runs the link's driver on smol's global executor
//! (or, with [`Runtime`]`::Tokio`, on the current tokio
//! runtime); [`RelayLink::new`] hands the driver future to the
//! application's own executor instead. The handle's futures are
//! runtime-agnostic: await them from plain threads with `smol::block_on`,
//! or from any async runtime.
//!
//! ```
//! use std::time::Duration;
//! use relay_link::config::Config;
//! use relay_link::shell::{Event, Options, RelayLink};
//! use relay_link::LinkState;
//! use smol::stream::StreamExt;
//!
//! let config = Config::builder("http://127.0.0.1:9").build()?; // nothing listens there
//! let (link, mut events) = RelayLink::spawn(config, Options::default())?;
//! smol::block_on(async {
//!     link.disconnect(Duration::from_secs(1)).await;
//!     assert_eq!(link.state(), LinkState::Closed);
//!     // The stream reports the way there and ends with the link.
//!     let mut last = None;
//!     while let Some(event) = events.next().await {
//!         if let Event::State { state, .. } = event {
//!             last = Some(state);
//!         }
//!     }
//!     assert_eq!(last, Some(LinkState::Closed));
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod action;
mod auth_header;
mod dial_error;
mod driver;
mod events;
#[cfg(feature = "metrics")]
mod export;
mod failure_log;
mod handle;
pub mod metrics_names;
mod options;
mod publish;
mod runtime;
mod socket;
mod stats;
mod tasks;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
mod why;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::command::{LinkState, PlatformState};
use crate::RequestId;

pub use events::{Acceptance, Event, Events, StateChanges};
pub use handle::{Disconnected, LinkDriver, Pending, RelayLink};
pub use options::{Options, SpawnError, DEFAULT_EVENT_CAPACITY};
pub use runtime::Runtime;
pub use stats::{LinkStats, ShellStats, NO_CLOSE_FRAME};
pub use why::{NotReady, StateChange};

pub(crate) use driver::Request;

/// What the driver shares with the handles: the last state it published
/// and its counters.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: AtomicU8,
    platform: AtomicU8,
    /// Random prefix of this link's request ids.
    pub(crate) id_prefix: u64,
    next_id: AtomicU64,
    /// Live tasks of this link.
    pub(crate) tasks: Arc<AtomicUsize>,
    /// Connections finishing a close handshake.
    pub(crate) closing: AtomicUsize,
    /// Events in the channel.
    pub(crate) queued: AtomicUsize,
    /// Events waiting in the driver for room in the channel.
    pub(crate) staged: AtomicUsize,
    /// The driver waits for room in the channel.
    pub(crate) backlogged: AtomicBool,
    /// The channel's bound.
    pub(crate) event_capacity: usize,
    /// The reactor of the link's sockets and timers.
    pub(crate) runtime: Runtime,
    /// The cause and timing of the last published change.
    pub(crate) status: std::sync::Mutex<why::Status>,
    /// The counters as of the driver's last turn.
    pub(crate) tallies: std::sync::Mutex<stats::Tallies>,
}

pub(crate) const STATES: [LinkState; 9] = [
    LinkState::Unstarted,
    LinkState::Connecting,
    LinkState::Handshaken,
    LinkState::Retrying,
    LinkState::Dormant,
    LinkState::Held,
    LinkState::Revoked,
    LinkState::Disabled,
    LinkState::Closed,
];
const PLATFORMS: [PlatformState; 6] = [
    PlatformState::Connecting,
    PlatformState::Connected,
    PlatformState::Retrying,
    PlatformState::Disabled,
    PlatformState::Fatal,
    PlatformState::Disconnected,
];

impl Shared {
    /// A fresh request id: 32 lowercase hex characters.
    pub(super) fn request_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        RequestId::new(format!("{:016x}{n:016x}", self.id_prefix))
    }

    pub(crate) fn publish(&self, state: LinkState, platform: PlatformState) {
        let s = STATES.iter().position(|&x| x == state).unwrap_or(0);
        let p = PLATFORMS.iter().position(|&x| x == platform).unwrap_or(0);
        self.state.store(s as u8, Ordering::Release);
        self.platform.store(p as u8 + 1, Ordering::Release);
    }

    pub(super) fn state(&self) -> LinkState {
        STATES[usize::from(self.state.load(Ordering::Acquire)) % STATES.len()]
    }

    /// The last published status (a poisoned lock still holds it).
    pub(crate) fn status(&self) -> std::sync::MutexGuard<'_, why::Status> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters as of the driver's last turn.
    pub(crate) fn tallies(&self) -> std::sync::MutexGuard<'_, stats::Tallies> {
        self.tallies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn platform(&self) -> Option<PlatformState> {
        match self.platform.load(Ordering::Acquire) {
            0 => None,
            p => PLATFORMS.get(usize::from(p) - 1).copied(),
        }
    }
}
