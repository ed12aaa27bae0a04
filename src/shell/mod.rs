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
//!   nothing is dropped.
//! * **Closing.** Every close the peer starts is echoed; every close the
//!   core starts is flushed and awaited within a grace (2 s, or what is
//!   left of a disconnect's budget). [`RelayLink::disconnect`] returns once
//!   its close frame is flushed and says how it ended ([`Disconnected`]).
//! * **Dropping.** When every handle, unaccepted [`Acceptance`] and the
//!   [`Events`] stream are gone, the link disconnects on its own and never
//!   dials again.
//!
//! Everything runs on smol's global executor, so any program can embed it:
//! from plain threads with `smol::block_on`, or from tokio by awaiting the
//! handle's futures (they are runtime-agnostic).
//!
//! ```
//! use std::time::Duration;
//! use relay_link::config::Config;
//! use relay_link::shell::{Event, Options, RelayLink};
//! use relay_link::LinkState;
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

mod driver;
mod publish;
mod runtime;
mod socket;
mod tasks;
#[cfg(feature = "tls")]
mod tls;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};

use crate::command::{FatalReport, LinkState, PlatformState, Settlement};
use crate::config::Config;
use crate::protocol::{Descriptor, InboundFrame, InterruptInboundFrame, PassthroughFrame};
use crate::RequestId;

pub use runtime::Runtime;

pub(crate) use driver::Request;

/// The default bound of the event channel ([`Options::event_capacity`]).
pub const DEFAULT_EVENT_CAPACITY: usize = 256;

/// Options of the shell (the core's options live in [`Config`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// The backoff jitter seed; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Write every input the core receives to this file, as a trace
    /// ([`crate::trace`]) that `relay-link replay` can render.
    pub record: Option<PathBuf>,
    /// Extra trusted root certificates (DER) for `wss://`, on top of the
    /// webpki roots.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Test hook: a copy of every [`Command`](crate::Command) the shell
    /// executes, in order, sent right after it is polled from the core. With
    /// [`record`](Options::record) this lets a test check that replaying the
    /// recorded trace ([`Trace::commands`](crate::trace::Trace::commands))
    /// reproduces exactly what the shell ran. A full or closed channel
    /// drops the copy; it never blocks or affects the link.
    pub command_log: Option<Sender<crate::Command>>,
    /// How many events may wait for the application
    /// (default [`DEFAULT_EVENT_CAPACITY`], at least 1). When they are all
    /// unread the link stops reading its socket (the connector's frames
    /// wait in TCP) while timers, keepalive pings, writes and request
    /// settlement go on; nothing is dropped.
    pub event_capacity: usize,
    /// The reactor of the link's sockets and timers (default smol's);
    /// with the `tokio` feature, [`Runtime::Tokio`] runs the link on
    /// tokio's alone.
    pub runtime: Runtime,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: None,
            record: None,
            #[cfg(feature = "tls")]
            extra_roots: Vec::new(),
            command_log: None,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            runtime: Runtime::Smol,
        }
    }
}

/// Why a link could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(String),
    /// `wss://` was configured but the `tls` feature is off.
    #[error("url: wss:// needs the `tls` feature")]
    TlsDisabled,
    /// The trace file could not be created.
    #[error("record: {0}")]
    Record(#[from] std::io::Error),
    /// An option is out of range.
    #[error("{field}: {problem}")]
    Option {
        /// The option's field name in [`Options`].
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// How [`RelayLink::disconnect`] ended. In every case the link is closed
/// (or had ended) and every request is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnected {
    /// The close frame (1000) was flushed and the connector answered it.
    Acknowledged,
    /// The close frame was flushed; the connector did not answer it within
    /// the budget.
    Flushed,
    /// The budget ran out (or the socket failed) before the close frame
    /// was flushed.
    NotFlushed,
    /// No connection was open: nothing needed a close frame.
    NoConnection,
    /// The link had already ended (closed or disabled).
    AlreadyEnded,
    /// The budget ran out before the link finished closing.
    BudgetExhausted,
}

impl Disconnected {
    /// Whether the connector has the close frame on its socket (flushed
    /// or answered).
    pub fn close_sent(self) -> bool {
        matches!(self, Disconnected::Acknowledged | Disconnected::Flushed)
    }
}

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

/// Something the link tells the application, in order.
#[derive(Debug)]
pub enum Event {
    /// The (state, platform state) pair changed.
    State {
        /// The lifecycle state.
        state: LinkState,
        /// The platform state, as a dashboard shows it.
        platform: PlatformState,
    },
    /// A capability descriptor arrived (one per hello'd identity).
    Descriptor(Box<Descriptor>),
    /// An inbound chat message. When `acceptance` is `Some`, the message
    /// was buffered by the connector: call [`Acceptance::accept`] once the
    /// application has taken it, and only then is it acknowledged.
    Inbound {
        /// The frame, unknown fields kept.
        frame: Box<InboundFrame>,
        /// The acknowledgement handle of a buffered delivery.
        acceptance: Option<Acceptance>,
    },
    /// A passthrough forward (same acceptance rule as `Inbound`).
    Passthrough {
        /// The frame, body decoded.
        frame: Box<PassthroughFrame>,
        /// The acknowledgement handle of a buffered delivery.
        acceptance: Option<Acceptance>,
    },
    /// The connector interrupts a session.
    InterruptInbound(InterruptInboundFrame),
    /// A non-retryable error, reported once; for `relay_disabled` the link
    /// is Disabled right after and the event stream ends.
    Fatal(FatalReport),
}

/// Acknowledges a buffered delivery once the application accepted it.
#[derive(Debug)]
pub struct Acceptance {
    buffer_id: String,
    requests: Sender<Request>,
}

impl Acceptance {
    /// The connector's `bufferId`.
    pub fn buffer_id(&self) -> &str {
        &self.buffer_id
    }

    /// The application took the delivery: send its `inbound_ack`.
    pub fn accept(self) {
        let _ = self.requests.try_send(Request::Accepted(self.buffer_id));
    }
}

/// The stream of [`Event`]s of one link. It ends when the link is Closed
/// or Disabled (after the last state change is delivered).
///
/// The stream is bounded ([`Options::event_capacity`]): while it is full
/// the link reads nothing more from its socket. Dropping it (with every
/// [`RelayLink`] handle) disconnects the link.
#[derive(Debug)]
pub struct Events {
    receiver: std::pin::Pin<Box<Receiver<Event>>>,
    shared: Arc<Shared>,
    /// Keeps the driver's inbox open while the stream lives, and asks it
    /// for more events once there is room again.
    requests: Sender<Request>,
}

impl Events {
    /// The next event; `None` once the link has ended.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| {
            futures_util::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await
    }

    /// Waits for the next event, then takes every event already waiting
    /// behind it, up to `max` in all (at least one): one wake-up for a
    /// whole batch. An empty vector means the link has ended.
    pub async fn next_batch(&mut self, max: usize) -> Vec<Event> {
        let Some(first) = self.next().await else {
            return Vec::new();
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match self.try_next() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        batch
    }

    /// The next event if one is ready.
    pub fn try_next(&mut self) -> Option<Event> {
        let event = self.receiver.try_recv().ok()?;
        self.taken();
        Some(event)
    }

    /// One event left the channel: count it, and wake a driver waiting
    /// for room.
    fn taken(&self) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        if self.shared.backlogged.swap(false, Ordering::AcqRel) {
            let _ = self.requests.try_send(Request::Room);
        }
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        let polled = self.receiver.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(Some(_)) = &polled {
            self.taken();
        }
        polled
    }
}

/// An outbound request on its way; await [`Pending::settled`].
#[derive(Debug)]
pub struct Pending {
    id: RequestId,
    sent: bool,
    settled: Receiver<Value>,
}

impl Pending {
    /// The request's id, as sent in the frame's `requestId`.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// Waits for the settlement (see [`RelayLink::send`]).
    pub async fn settled(self) -> Value {
        let closed = || Settlement::Closed { ambiguous: false }.to_json();
        if !self.sent {
            return closed();
        }
        self.settled.recv().await.unwrap_or_else(|_| closed())
    }
}

/// A stream of (state, platform state) changes, from
/// [`RelayLink::state_changes`].
#[derive(Debug)]
pub struct StateChanges {
    receiver: Receiver<(LinkState, PlatformState)>,
}

impl StateChanges {
    /// The next change; `None` once the link has ended.
    pub async fn next(&mut self) -> Option<(LinkState, PlatformState)> {
        self.receiver.recv().await.ok()
    }
}

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
}

const STATES: [LinkState; 9] = [
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
    fn request_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        RequestId::new(format!("{:016x}{n:016x}", self.id_prefix))
    }

    pub(crate) fn publish(&self, state: LinkState, platform: PlatformState) {
        let s = STATES.iter().position(|&x| x == state).unwrap_or(0);
        let p = PLATFORMS.iter().position(|&x| x == platform).unwrap_or(0);
        self.state.store(s as u8, Ordering::Release);
        self.platform.store(p as u8 + 1, Ordering::Release);
    }

    fn state(&self) -> LinkState {
        STATES[usize::from(self.state.load(Ordering::Acquire)) % STATES.len()]
    }

    fn platform(&self) -> Option<PlatformState> {
        match self.platform.load(Ordering::Acquire) {
            0 => None,
            p => PLATFORMS.get(usize::from(p) - 1).copied(),
        }
    }
}

/// The future that runs one link ([`RelayLink::new`]): `Send + 'static`,
/// for any executor. It owns the core, the live connection and the close
/// handshakes, and completes when the link has ended.
#[must_use = "the link runs only while its driver is polled"]
pub struct LinkDriver {
    future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for LinkDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkDriver").finish_non_exhaustive()
    }
}

impl std::future::Future for LinkDriver {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.future.as_mut().poll(cx)
    }
}

/// A cloneable, `Send` handle to a running relay link.
///
/// The link runs until it is closed ([`disconnect`](RelayLink::disconnect))
/// or disabled (the credential was revoked). When every handle, every
/// unaccepted [`Acceptance`] and the [`Events`] stream are dropped, the
/// link disconnects on its own (close 1000 within a 5 s budget) and never
/// dials again.
#[derive(Debug, Clone)]
pub struct RelayLink {
    requests: Sender<Request>,
    shared: Arc<Shared>,
}

impl RelayLink {
    /// Starts a link: validates the shell options, spawns the one task
    /// that owns the core and its connection on smol's global executor,
    /// and dials at once.
    ///
    /// With [`Runtime::Tokio`] the driver is spawned on the current tokio
    /// runtime instead (an error outside one).
    pub fn spawn(config: Config, options: Options) -> Result<(RelayLink, Events), SpawnError> {
        #[cfg(feature = "tokio")]
        if options.runtime == Runtime::Tokio {
            let handle = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::Option {
                field: "runtime",
                problem: "Runtime::Tokio needs a tokio runtime to spawn on",
            })?;
            let (link, events, driver) = RelayLink::new(config, options)?;
            drop(handle.spawn(driver));
            return Ok((link, events));
        }
        let (link, events, driver) = RelayLink::new(config, options)?;
        smol::spawn(driver).detach();
        Ok((link, events))
    }

    /// Builds a link without starting it: the handle, the event stream and
    /// the [`LinkDriver`] future that runs the link (it dials when first
    /// polled). Spawn the driver on the application's own executor
    /// (`smol::spawn(driver)`, `tokio::spawn(driver)`, or a thread with
    /// `block_on(driver)`); it ends when the link is closed or disabled,
    /// or after the link disconnected because every handle and the event
    /// stream were dropped.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use relay_link::config::Config;
    /// use relay_link::shell::{Options, RelayLink};
    ///
    /// let config = Config::builder("wss://connector.example/").build()?;
    /// let (link, events, driver) = RelayLink::new(config, Options::default())?;
    /// std::thread::spawn(move || smol::block_on(driver));
    /// # drop((link, events));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        config: Config,
        options: Options,
    ) -> Result<(RelayLink, Events, LinkDriver), SpawnError> {
        let (requests, events, shared, future) = driver::build(config, options)?;
        Ok((
            RelayLink {
                requests: requests.clone(),
                shared: shared.clone(),
            },
            Events {
                receiver: Box::pin(events),
                shared,
                requests,
            },
            LinkDriver { future },
        ))
    }

    /// Sends an outbound action (an object with an `op`) and waits for its
    /// settlement: the connector's `result`, or one of the contract's
    /// `success: false` objects. It never hangs: a link between
    /// connections answers at once, and every written request is settled
    /// within the outbound timeout.
    pub async fn send(&self, action: Map<String, Value>, platform: Option<&str>) -> Value {
        self.request(action, platform).settled().await
    }

    /// Like [`send`](RelayLink::send), but gives the request id (the
    /// frame's `requestId`) before waiting for the settlement.
    pub fn request(&self, action: Map<String, Value>, platform: Option<&str>) -> Pending {
        let id = self.shared.request_id();
        let (reply, settled) = smol::channel::bounded(1);
        let request = Request::Send {
            id: id.clone(),
            action,
            platform: platform.map(str::to_owned),
            reply,
        };
        let sent = self.requests.try_send(request).is_ok();
        Pending { id, sent, settled }
    }

    /// Interrupts a session (fire and forget).
    pub fn interrupt(&self, session_key: &str, reason: Option<&str>) {
        let _ = self.requests.try_send(Request::Interrupt {
            session_key: session_key.to_owned(),
            reason: reason.map(str::to_owned),
        });
    }

    /// Asks the connector to buffer this gateway's traffic; true when it
    /// acknowledged (within the going-idle timeout).
    pub async fn go_idle(&self) -> bool {
        self.idle(false).await
    }

    /// Goes dormant: `going_idle`, and only if acknowledged, closes the
    /// socket without ending the link and re-dials on the dormant cadence.
    /// Returns whether the connector acknowledged.
    pub async fn go_dormant(&self) -> bool {
        self.idle(true).await
    }

    async fn idle(&self, dormant: bool) -> bool {
        let (reply, outcome) = smol::channel::bounded(1);
        if self
            .requests
            .send(Request::Idle { dormant, reply })
            .await
            .is_err()
        {
            return false;
        }
        outcome.recv().await.unwrap_or(false)
    }

    /// Parks pending re-dials (at most the configured `max_hold`).
    pub fn hold_redial(&self) {
        let _ = self.requests.try_send(Request::Hold);
    }

    /// Releases parked re-dials.
    pub fn release_redial(&self) {
        let _ = self.requests.try_send(Request::Release);
    }

    /// Disconnects deliberately: stops dialing, lets in-flight requests
    /// finish (within the drain grace), closes with 1000 and settles the
    /// rest as closed. Returns once the close frame is flushed (and
    /// answered, or its time ran out), and within `budget` even if the
    /// connector never answers; the result says which happened. A budget
    /// too long to represent (`Duration::MAX`) means no limit beyond the
    /// link's own close grace.
    pub async fn disconnect(&self, budget: Duration) -> Disconnected {
        let (reply, done) = smol::channel::bounded(1);
        if self
            .requests
            .send(Request::Disconnect { budget, reply })
            .await
            .is_err()
        {
            return Disconnected::AlreadyEnded;
        }
        match self.shared.runtime.within(budget, done.recv()).await {
            Some(Ok(outcome)) => outcome,
            Some(Err(_)) => Disconnected::AlreadyEnded,
            None => Disconnected::BudgetExhausted,
        }
    }

    /// A snapshot of the shell's counters (tasks, queued events); the
    /// core's counters are in the trace and [`crate::Link::stats`].
    pub fn stats(&self) -> ShellStats {
        let shared = &self.shared;
        ShellStats {
            live_tasks: shared.tasks.load(Ordering::Relaxed),
            closing_connections: shared.closing.load(Ordering::Relaxed),
            queued_events: shared.queued.load(Ordering::Acquire),
            staged_events: shared.staged.load(Ordering::Relaxed),
            event_capacity: shared.event_capacity,
        }
    }

    /// The link's current state.
    pub fn state(&self) -> LinkState {
        self.shared.state()
    }

    /// The link's current platform state (`None` before it started).
    pub fn platform_state(&self) -> Option<PlatformState> {
        self.shared.platform()
    }

    /// A new stream of state changes from now on.
    pub fn state_changes(&self) -> StateChanges {
        let (sender, receiver) = smol::channel::unbounded();
        let _ = self.requests.try_send(Request::Subscribe(sender));
        StateChanges { receiver }
    }
}
