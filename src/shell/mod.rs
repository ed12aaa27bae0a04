//! The smol shell: runs a [`Link`](crate::Link) against real sockets.
//!
//! [`RelayLink::spawn`] starts one task that owns the core (no lock around
//! it). That task executes the core's commands (dial with a token minted
//! at dial time, write frames, close, sleep until the single next deadline
//! of [`Link::poll_timeout`](crate::Link::poll_timeout)) and feeds what
//! happens back in as inputs. Reading and writing each connection run in
//! their own small tasks so a stalled connector can never block the link.
//! The one-dialer rule, backoff and generations live in the core only: the
//! shell has no retry logic of its own.
//!
//! The application holds a cloneable [`RelayLink`] handle (requests) and
//! one [`Events`] stream (deliveries, state changes, the fatal report).
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
mod socket;
#[cfg(feature = "tls")]
mod tls;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};

use crate::command::{FatalReport, LinkState, PlatformState, Settlement};
use crate::config::Config;
use crate::protocol::{Descriptor, InboundFrame, InterruptInboundFrame, PassthroughFrame};
use crate::RequestId;

pub(crate) use driver::Request;

/// Options of the shell (the core's options live in [`Config`]).
#[derive(Debug, Clone, Default)]
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
/// or Disabled.
#[derive(Debug)]
pub struct Events {
    receiver: std::pin::Pin<Box<Receiver<Event>>>,
}

impl Events {
    /// The next event; `None` once the link has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.receiver.recv().await.ok()
    }

    /// The next event if one is ready.
    pub fn try_next(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        self.receiver.as_mut().poll_next(cx)
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

/// The last state the driver published, readable from any handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: AtomicU8,
    platform: AtomicU8,
    /// Random prefix of this link's request ids.
    pub(crate) id_prefix: u64,
    next_id: AtomicU64,
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

/// A cloneable, `Send` handle to a running relay link.
#[derive(Debug, Clone)]
pub struct RelayLink {
    requests: Sender<Request>,
    shared: Arc<Shared>,
}

impl RelayLink {
    /// Starts a link: validates the shell options, spawns the task that
    /// owns the core on smol's global executor and dials at once.
    pub fn spawn(config: Config, options: Options) -> Result<(RelayLink, Events), SpawnError> {
        let (requests, events, shared) = driver::spawn(config, options)?;
        Ok((
            RelayLink { requests, shared },
            Events {
                receiver: Box::pin(events),
            },
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
    /// rest as closed. Returns within `budget` even if the connector never
    /// answers.
    pub async fn disconnect(&self, budget: Duration) {
        let (reply, done) = smol::channel::bounded(1);
        let sent = self.requests.send(Request::Disconnect { budget, reply });
        let wait = async {
            if sent.await.is_ok() {
                let _ = done.recv().await;
            }
        };
        let deadline = async {
            smol::Timer::after(budget).await;
        };
        smol::future::or(wait, deadline).await;
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
