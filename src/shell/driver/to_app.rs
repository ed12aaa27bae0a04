//! What the driver hands to the application: events staged in a backlog
//! and sent in batches under the stream's bound, the `Acceptance` of a
//! delivery, and the published state changes.

use super::*;

impl Driver {
    /// Whether the socket may be read now. Decoded events wait in the
    /// backlog for the end of the turn while they are fewer than a batch
    /// and fit under the bound; otherwise they go to the channel first,
    /// and the socket waits while any are left (the channel is full and
    /// the application has been asked for a `Room` request).
    pub(super) fn may_read(&mut self) -> bool {
        let queued = || self.shared.queued.load(Ordering::Acquire);
        let staged = self.backlog.len();
        if staged == 0 {
            return true;
        }
        if staged < EVENT_BATCH && queued() + staged < self.shared.event_capacity {
            return true;
        }
        self.flush_backlog();
        self.backlog.is_empty()
    }

    pub(super) fn acceptance(&self, buffer_id: Option<&str>) -> Option<Acceptance> {
        let id = buffer_id?;
        Some(Acceptance {
            buffer_id: id.to_owned(),
            requests: self.requests.upgrade()?,
        })
    }

    /// Queues an event for the application, in order, never dropping one
    /// while the event stream is alive. It reaches the channel at the end
    /// of the driver's turn, or once a batch has gathered.
    pub(super) fn emit(&mut self, event: Event) {
        self.backlog.push_back(event);
        if self.backlog.len() >= EVENT_BATCH {
            self.flush_backlog();
        }
    }

    /// Moves what fits under the bound from the backlog into the event
    /// channel, as one batch. The channel itself is unbounded (a bounded
    /// one preallocates every slot: 20 KiB per idle link at the default
    /// bound); the bound is the `queued` count of events, which only the
    /// driver raises, so it is never exceeded.
    pub(super) fn flush_backlog(&mut self) {
        if self.events.is_closed() {
            // Nobody reads events any more (the stream was dropped): none
            // is kept, and the socket is read again.
            self.backlog.clear();
            self.shared.queued.store(0, Ordering::Release);
        }
        while !self.backlog.is_empty() {
            let queued = self.shared.queued.load(Ordering::Acquire);
            let room = self.shared.event_capacity.saturating_sub(queued);
            if room == 0 {
                // Ask for a `Room` request on the next read, then look
                // once more: the application may have read in between.
                if !self.shared.backlogged.swap(true, Ordering::AcqRel) {
                    continue;
                }
                break;
            }
            let n = room.min(self.backlog.len());
            let batch: Vec<Event> = self.backlog.drain(..n).collect();
            // Counted before it is visible, so the reader never counts below 0.
            self.shared.queued.fetch_add(n, Ordering::AcqRel);
            if self.events.try_send(batch).is_err() {
                // Nobody reads events any more: nothing can be accepted.
                self.shared.queued.fetch_sub(n, Ordering::AcqRel);
                self.backlog.clear();
            }
        }
        self.shared
            .staged
            .store(self.backlog.len(), Ordering::Relaxed);
    }

    /// Publishes one (state, platform) change with its cause.
    pub(super) fn publish(&mut self, (state, platform): (LinkState, PlatformState)) {
        let change = StateChange {
            state,
            platform,
            cause: self.link.cause().cloned(),
            retry_in: self.link.retry_in(),
        };
        {
            let now = Instant::now();
            let mut status = self.shared.status();
            status.cause.clone_from(&change.cause);
            status.retry_at = change.retry_in.and_then(|delay| now.checked_add(delay));
            status.since = Some(now);
        }
        self.shared.publish(state, platform);
        tracing::info!(%state, %platform, gen = self.link.generation().0, "state");
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics.as_ref() {
            metrics.state(state);
        }
        if state == LinkState::Handshaken {
            if let Some(line) = self.failures.flush() {
                failure_log::log(&line, None);
            }
        }
        self.subscribers
            .retain(|s| s.try_send(change.clone()).is_ok());
        self.emit(Event::State {
            state,
            platform,
            cause: change.cause.clone(),
            retry_in: change.retry_in,
        });
        self.last_change = Some(change);
    }
}
