//! The application's handle to a running link.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};

#[cfg(doc)]
use super::Acceptance;
#[cfg(feature = "tokio")]
use super::Runtime;
use super::{
    action, driver, Events, LinkStats, NotReady, Options, Request, Shared, SpawnError, StateChange,
    StateChanges,
};
use crate::cause::Cause;
use crate::command::{LinkState, PlatformState, Settlement};
use crate::config::Config;
use crate::request_error::RequestError;
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
    state: PendingState,
}

#[derive(Debug)]
enum PendingState {
    /// Queued for the driver, which settles it exactly once.
    Queued(Receiver<Settlement>),
    /// Refused before it was queued.
    Refused(RequestError),
}

impl Pending {
    /// The request's id, as sent in the frame's `requestId`.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// Waits for the settlement (see [`RelayLink::send`]).
    pub async fn settled(self) -> Result<Map<String, Value>, RequestError> {
        let closed = RequestError::Closed { ambiguous: false };
        match self.state {
            PendingState::Queued(settled) => match settled.recv().await {
                Ok(settlement) => settlement.into_result(),
                Err(_) => Err(closed),
            },
            PendingState::Refused(error) => Err(error),
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

    /// Sends an outbound action and waits for its settlement. It never
    /// hangs: a link between connections answers at once, and every
    /// written request is settled within the outbound timeout.
    ///
    /// The action is any [`Serialize`] value (or a reference to one) that
    /// serialises to a JSON object with a string `op`: a `json!` object, a
    /// [`Map`], the application's own struct. Anything else is refused before it is
    /// queued, as [`RequestError::InvalidAction`]. `platform` routes it
    /// (the frame's `platform`, with the `botId` of that platform's
    /// identity).
    ///
    /// `Ok` is the connector's `result` object, whatever it says
    /// (`"success": false` from the connector included); `Err` is the
    /// link's own failure, with [`RequestError::is_ambiguous`] telling
    /// whether the connector may have acted on it.
    ///
    /// ```no_run
    /// # async fn demo(link: relay_link::shell::RelayLink) {
    /// use relay_link::serde_json::json;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Typing {
    ///     op: &'static str,
    ///     chat_id: u64,
    /// }
    ///
    /// match link.send(json!({"op": "send", "text": "hi"}), Some("discord")).await {
    ///     Ok(result) => println!("the connector answered {result:?}"),
    ///     Err(e) if e.is_ambiguous() => println!("it may have been sent: {e}"),
    ///     Err(e) => println!("not sent: {e}"),
    /// }
    /// let typing = Typing { op: "typing", chat_id: 42 };
    /// let _ = link.send(&typing, None).await;
    /// # }
    /// ```
    pub async fn send<A: Serialize>(
        &self,
        action: A,
        platform: Option<&str>,
    ) -> Result<Map<String, Value>, RequestError> {
        self.request(action, platform).settled().await
    }

    /// Like [`send`](RelayLink::send), but gives the request id (the
    /// frame's `requestId`) before waiting for the settlement. An invalid
    /// action is refused here already: nothing is queued and
    /// [`Pending::settled`] returns the error at once.
    pub fn request<A: Serialize>(&self, action: A, platform: Option<&str>) -> Pending {
        let id = self.shared.request_id();
        let action = match action::action_object(&action) {
            Ok(action) => action,
            Err(error) => {
                return Pending {
                    id,
                    state: PendingState::Refused(error),
                }
            }
        };
        let (reply, settled) = smol::channel::bounded(1);
        let request = Request::Send {
            id: id.clone(),
            action,
            platform: platform.map(str::to_owned),
            reply,
        };
        let state = match self.requests.try_send(request) {
            Ok(()) => PendingState::Queued(settled),
            Err(_) => PendingState::Refused(RequestError::Closed { ambiguous: false }),
        };
        Pending { id, state }
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

    /// A snapshot of the link's counters and gauges: dials, dial failures
    /// by kind, handshakes, closes by code, requests by outcome, frames,
    /// skipped input, queued events, in-flight requests, time in the
    /// current state (see [`LinkStats`]). The counters are as of the
    /// driver's last turn.
    pub fn stats(&self) -> LinkStats {
        let shared = &self.shared;
        let tallies = shared.tallies().clone();
        let since = shared.status().since;
        LinkStats {
            state: shared.state(),
            in_state_for: since.map_or(Duration::ZERO, |at| at.elapsed()),
            counters: tallies.counters,
            skipped: tallies.skipped,
            closes: tallies.closes,
            in_flight_requests: tallies.in_flight,
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

    /// A new stream of state changes, each with its cause: it starts
    /// with the current state (so no change is missed between subscribing
    /// and reading) and ends after the link's last change. A link that has
    /// already ended gives its final state, then the stream ends.
    pub fn state_changes(&self) -> StateChanges {
        let (sender, receiver) = smol::channel::unbounded();
        if let Err(refused) = self.requests.try_send(Request::Subscribe(sender)) {
            // The driver has ended: its last state is all there is.
            if let (Request::Subscribe(sender), Some(platform)) =
                (refused.into_inner(), self.shared.platform())
            {
                let _ = sender.try_send(StateChange {
                    state: self.shared.state(),
                    platform,
                    cause: self.cause(),
                    retry_in: None,
                });
            }
        }
        StateChanges {
            receiver: Box::pin(receiver),
        }
    }

    /// Waits until the link is handshaken (at once if it is), or fails
    /// with [`NotReady`] if it is (or becomes) disabled or closed first;
    /// the error carries the cause.
    ///
    /// ```no_run
    /// # async fn run(link: relay_link::shell::RelayLink) {
    /// match link.ready().await {
    ///     Ok(()) => println!("handshaken"),
    ///     Err(not_ready) => println!("{not_ready}"), // the relay link is disabled: credential revoked (4401 unauthorized)
    /// }
    /// # }
    /// ```
    pub async fn ready(&self) -> Result<(), NotReady> {
        use futures_util::StreamExt;
        let mut changes = self.state_changes();
        while let Some(change) = changes.next().await {
            if change.state == LinkState::Handshaken {
                return Ok(());
            }
            if let Some(not_ready) = NotReady::of(change.state, change.cause) {
                return Err(not_ready);
            }
        }
        // The stream ended without a final state: the driver was dropped.
        let state = self.shared.state();
        Err(NotReady::of(state, self.cause()).unwrap_or(NotReady::Closed { cause: None }))
    }

    /// Why the last connection or dial ended, as of the last state change
    /// ([`crate::Link::cause`]): `None` while handshaken and before
    /// anything went wrong.
    pub fn cause(&self) -> Option<Cause> {
        self.shared.status().cause.clone()
    }

    /// While the link waits to re-dial (retrying, dormant), how long until
    /// the next dial; `None` otherwise.
    pub fn retry_in(&self) -> Option<Duration> {
        let at = self.shared.status().retry_at?;
        matches!(self.state(), LinkState::Retrying | LinkState::Dormant)
            .then(|| at.saturating_duration_since(std::time::Instant::now()))
    }
}
