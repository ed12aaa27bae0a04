//! How a driver ends: normally (`finish`, once the link has ended), or
//! dropped before that (its executor shut down, or the application dropped
//! the future), when what it still held is answered at once.

use super::*;

/// Closes the driver's inbox when dropped and drops every request still
/// in it, so their callers see the link gone (`Closed`, not sent) instead
/// of waiting forever.
pub(super) struct InboxGuard(pub(super) Receiver<Request>);

impl Drop for InboxGuard {
    fn drop(&mut self) {
        self.0.close();
        while self.0.try_recv().is_ok() {}
    }
}

impl Drop for Driver {
    /// A driver dropped before its link ended (see [`InboxGuard`]):
    /// requests already handed to the core may have been written, so they
    /// settle as ambiguous. After a normal end there are none left.
    fn drop(&mut self) {
        for (_, reply) in self.replies.drain() {
            let _ = reply.try_send(crate::Settlement::Closed { ambiguous: true });
        }
    }
}

impl Driver {
    /// The link ended: settle what is left, let the disconnect's close
    /// finish and report it, then hand over the last events.
    pub(super) async fn finish(&mut self) {
        if let Some(line) = self.failures.flush() {
            failure_log::log(&line, None);
        }
        self.dial = None;
        self.conn = None;
        for (_, reply) in self.replies.drain() {
            let _ = reply.try_send(crate::Settlement::Closed { ambiguous: false });
        }
        let outcome = match self.disconnect_close.take() {
            Some(close) => Some(close.await),
            None => self.disconnect_outcome,
        };
        let outcome = match outcome {
            Some(outcome) => match outcome {
                CloseOutcome::Acknowledged => Disconnected::Acknowledged,
                CloseOutcome::Flushed => Disconnected::Flushed,
                CloseOutcome::NotFlushed => Disconnected::NotFlushed,
                CloseOutcome::PeerClosed => Disconnected::NoConnection,
            },
            None => Disconnected::NoConnection,
        };
        for waiter in self.disconnect_waiters.drain(..) {
            let _ = waiter.try_send(outcome);
        }
        for close in self.closing.drain(..) {
            close.await;
        }
        self.shared.closing.store(0, Ordering::Relaxed);
        // The last events (the final states, a fatal report) wait for room;
        // the stream ends after them.
        if !self.backlog.is_empty() {
            let batch: Vec<Event> = self.backlog.drain(..).collect();
            let n = batch.len();
            self.shared.queued.fetch_add(n, Ordering::AcqRel);
            if self.events.send(batch).await.is_err() {
                self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            }
        }
        self.shared.staged.store(0, Ordering::Relaxed);
    }
}
