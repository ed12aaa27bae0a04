//! The ledger of buffered deliveries (`bufferId`s), for at-most-once
//! delivery per link and acknowledgement only after acceptance.
//!
//! Two kinds of entries, bounded apart:
//! - **awaiting acceptance** (delivered, not accepted yet): never forgotten,
//!   since an ack is owed once the application accepts. At most `awaiting`
//!   of them; past that a new id is [deferred](Offer::Deferred).
//! - **accepted**: remembered so that a redelivery is acked again instead
//!   of delivered twice; at most `capacity`, the oldest acceptance
//!   forgotten first.
//!
//! Each id is stored once (shared between the map and the queue).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What to do with an arriving buffered delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// First sighting: deliver it to the application.
    Deliver,
    /// Delivered before, not accepted yet: drop it silently; the ack goes
    /// out when the application accepts.
    AwaitingAcceptance,
    /// Delivered and accepted before: don't deliver, ack it again.
    AckAgain,
    /// First sighting, but too many deliveries await acceptance: neither
    /// deliver nor ack it (the connector keeps it and delivers it again).
    Deferred,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Delivered,
    Accepted,
}

/// The `bufferId`s of one link.
#[derive(Debug, Clone)]
pub(crate) struct BufferLedger {
    status: HashMap<Arc<str>, Status>,
    /// Accepted ids, oldest acceptance first.
    accepted: VecDeque<Arc<str>>,
    /// How many ids await acceptance.
    delivered: usize,
    capacity: usize,
    awaiting: usize,
}

impl BufferLedger {
    /// An empty ledger remembering at most `capacity` accepted ids and
    /// `awaiting` ids awaiting acceptance.
    pub(crate) fn new(capacity: usize, awaiting: usize) -> Self {
        Self {
            status: HashMap::new(),
            accepted: VecDeque::new(),
            delivered: 0,
            capacity: capacity.max(1),
            awaiting,
        }
    }

    /// Classifies an arriving delivery with this `bufferId`.
    pub(crate) fn offer(&mut self, id: &str) -> Offer {
        match self.status.get(id) {
            Some(Status::Delivered) => Offer::AwaitingAcceptance,
            Some(Status::Accepted) => Offer::AckAgain,
            None if self.delivered >= self.awaiting => Offer::Deferred,
            None => {
                self.status.insert(Arc::from(id), Status::Delivered);
                self.delivered += 1;
                Offer::Deliver
            }
        }
    }

    /// Marks `id` accepted; true when it had been delivered (so an ack is due).
    pub(crate) fn accept(&mut self, id: &str) -> bool {
        let Some((key, status)) = self.status.get_key_value(id) else {
            return false;
        };
        if *status == Status::Delivered {
            let key = Arc::clone(key);
            self.status.insert(Arc::clone(&key), Status::Accepted);
            self.delivered -= 1;
            self.accepted.push_back(key);
            while self.accepted.len() > self.capacity {
                if let Some(oldest) = self.accepted.pop_front() {
                    self.status.remove(&oldest);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_id_is_delivered_once_then_acked_again_after_acceptance() {
        let mut ledger = BufferLedger::new(8, 8);
        assert_eq!(ledger.offer("b1"), Offer::Deliver);
        assert_eq!(ledger.offer("b1"), Offer::AwaitingAcceptance);
        assert!(ledger.accept("b1"));
        assert_eq!(ledger.offer("b1"), Offer::AckAgain);
        assert!(ledger.accept("b1"));
        assert!(!ledger.accept("never-seen"));
    }

    #[test]
    fn the_oldest_accepted_id_is_forgotten_past_capacity() {
        let mut ledger = BufferLedger::new(2, 8);
        for id in ["a", "b", "c"] {
            ledger.offer(id);
        }
        // Awaiting acceptance: nothing is forgotten.
        assert_eq!(ledger.offer("a"), Offer::AwaitingAcceptance);
        for id in ["c", "a", "b"] {
            ledger.accept(id);
        }
        // Accepted first, forgotten first.
        assert_eq!(ledger.offer("c"), Offer::Deliver);
        assert_eq!(ledger.offer("a"), Offer::AckAgain);
        assert_eq!(ledger.offer("b"), Offer::AckAgain);
    }

    #[test]
    fn new_ids_are_deferred_while_too_many_await_acceptance() {
        let mut ledger = BufferLedger::new(8, 2);
        assert_eq!(ledger.offer("a"), Offer::Deliver);
        assert_eq!(ledger.offer("b"), Offer::Deliver);
        assert_eq!(ledger.offer("c"), Offer::Deferred);
        assert!(!ledger.accept("c"));
        assert!(ledger.accept("a"));
        assert_eq!(ledger.offer("c"), Offer::Deliver);
        assert_eq!(ledger.offer("d"), Offer::Deferred);
    }
}
