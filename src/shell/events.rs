//! What the link tells the application: the [`Event`] stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use smol::channel::{Receiver, Sender};

use super::StateChange;
#[cfg(doc)]
use super::{Options, RelayLink};
use super::{Request, Shared};
use crate::cause::Cause;
use crate::command::{FatalReport, LinkState, PlatformState};
use crate::protocol::{Descriptor, InboundFrame, InterruptInboundFrame, PassthroughFrame};

/// Something the link tells the application, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The (state, platform state) pair changed.
    State {
        /// The lifecycle state.
        state: LinkState,
        /// The platform state, as a dashboard shows it.
        platform: PlatformState,
        /// Why the last connection or dial ended ([`crate::Link::cause`]):
        /// `None` while handshaken and before anything went wrong. While
        /// the link retries, it is the failure it retries after.
        cause: Option<Cause>,
        /// While retrying (or dormant), the delay until the next dial.
        retry_in: Option<Duration>,
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

impl Event {
    /// The change an [`Event::State`] reports, as the state stream gives
    /// it; `None` for every other event.
    pub fn state_change(&self) -> Option<StateChange> {
        match self {
            Event::State {
                state,
                platform,
                cause,
                retry_in,
            } => Some(StateChange {
                state: *state,
                platform: *platform,
                cause: cause.clone(),
                retry_in: *retry_in,
            }),
            _ => None,
        }
    }
}

/// Acknowledges a buffered delivery once the application accepted it.
#[derive(Debug)]
pub struct Acceptance {
    pub(super) buffer_id: String,
    pub(super) requests: Sender<Request>,
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

/// The stream of [`Event`]s of one link: a [`Stream`](futures_util::Stream),
/// read with any `StreamExt::next` (`futures`, `futures-lite`/`smol`,
/// `tokio-stream`). It ends when the link is Closed or Disabled (after the
/// last state change is delivered).
///
/// The stream is bounded ([`Options::event_capacity`]): while it is full
/// the link reads nothing more from its socket. Dropping it (with every
/// [`RelayLink`] handle) disconnects the link.
#[derive(Debug)]
pub struct Events {
    /// Batches of events: the driver sends what one turn produced at once.
    pub(super) receiver: std::pin::Pin<Box<Receiver<Vec<Event>>>>,
    /// What is left of the batch being read.
    pub(super) batch: std::vec::IntoIter<Event>,
    pub(super) shared: Arc<Shared>,
    /// Keeps the driver's inbox open while the stream lives, and asks it
    /// for more events once there is room again.
    pub(super) requests: Sender<Request>,
}

impl Events {
    /// Waits for the next event, then takes every event already waiting
    /// behind it, up to `max` in all (at least one): one wake-up for a
    /// whole batch. An empty vector means the link has ended.
    ///
    /// (One event at a time: `StreamExt::next`, from `futures`,
    /// `futures-lite`/`smol` or `tokio-stream`.)
    pub async fn next_batch(&mut self, max: usize) -> Vec<Event> {
        let first = std::future::poll_fn(|cx| {
            futures_util::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await;
        let Some(first) = first else {
            return Vec::new();
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match self.next_ready() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        batch
    }

    /// The next event if one is ready, without waiting. `None` says only
    /// that none is ready now (the stream may not have ended).
    pub fn next_ready(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.batch.next() {
                self.taken();
                return Some(event);
            }
            self.batch = self.receiver.try_recv().ok()?.into_iter();
        }
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

impl Drop for Events {
    /// Drops the events nobody will read. A queued event stays in the
    /// channel as long as the driver's sender does, and an [`Acceptance`]
    /// among them would keep the driver's inbox open: the link would never
    /// learn that the application is gone. The driver is woken to drop its
    /// own staged events too.
    fn drop(&mut self) {
        self.receiver.close();
        while self.receiver.try_recv().is_ok() {}
        // The driver resets its count of queued events once it sees the
        // channel closed.
        let _ = self.requests.try_send(Request::Room);
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        loop {
            if let Some(event) = self.batch.next() {
                self.taken();
                return std::task::Poll::Ready(Some(event));
            }
            match std::task::ready!(self.receiver.as_mut().poll_next(cx)) {
                Some(batch) => self.batch = batch.into_iter(),
                None => return std::task::Poll::Ready(None),
            }
        }
    }
}

/// A [`Stream`](futures_util::Stream) of [`StateChange`]s, from
/// [`RelayLink::state_changes`]. Its first item is the link's state when
/// it was subscribed, so no change is missed between reading the state
/// and subscribing; it ends after the link's last change.
#[derive(Debug)]
pub struct StateChanges {
    pub(super) receiver: std::pin::Pin<Box<Receiver<StateChange>>>,
}

impl futures_util::Stream for StateChanges {
    type Item = StateChange;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<StateChange>> {
        self.receiver.as_mut().poll_next(cx)
    }
}
