//! The application's handle to a running link.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};

#[cfg(doc)]
use super::Acceptance;
#[cfg(feature = "tokio")]
use super::Runtime;
use super::{driver, Events, Options, Request, Shared, ShellStats, SpawnError, StateChanges};
use crate::command::{LinkState, PlatformState, Settlement};
use crate::config::Config;
use crate::RequestId;

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
    /// With `Runtime::Tokio` the driver is spawned on the current tokio
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
                batch: Vec::new().into_iter(),
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
