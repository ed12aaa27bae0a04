//! The ledger of buffered deliveries (`bufferId`s), for at-most-once
//! delivery per link and acknowledgement only after acceptance.

use std::collections::{HashMap, VecDeque};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Delivered,
    Accepted,
}

/// Remembers up to `capacity` bufferIds per link (oldest forgotten first).
#[derive(Debug, Clone)]
pub(crate) struct BufferLedger {
    status: HashMap<String, Status>,
    order: VecDeque<String>,
    capacity: usize,
}

impl BufferLedger {
    /// An empty ledger remembering at most `capacity` ids.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            status: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Classifies an arriving delivery with this `bufferId`.
    pub(crate) fn offer(&mut self, id: &str) -> Offer {
        match self.status.get(id) {
            Some(Status::Delivered) => Offer::AwaitingAcceptance,
            Some(Status::Accepted) => Offer::AckAgain,
            None => {
                if self.order.len() >= self.capacity {
                    if let Some(oldest) = self.order.pop_front() {
                        self.status.remove(&oldest);
                    }
                }
                self.status.insert(id.to_owned(), Status::Delivered);
                self.order.push_back(id.to_owned());
                Offer::Deliver
            }
        }
    }

    /// Marks `id` accepted; true when it had been delivered (so an ack is due).
    pub(crate) fn accept(&mut self, id: &str) -> bool {
        match self.status.get_mut(id) {
            Some(status) => {
                *status = Status::Accepted;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_id_is_delivered_once_then_acked_again_after_acceptance() {
        let mut ledger = BufferLedger::new(8);
        assert_eq!(ledger.offer("b1"), Offer::Deliver);
        assert_eq!(ledger.offer("b1"), Offer::AwaitingAcceptance);
        assert!(ledger.accept("b1"));
        assert_eq!(ledger.offer("b1"), Offer::AckAgain);
        assert!(!ledger.accept("never-seen"));
    }

    #[test]
    fn the_oldest_id_is_forgotten_past_capacity() {
        let mut ledger = BufferLedger::new(2);
        ledger.offer("a");
        ledger.offer("b");
        ledger.offer("c");
        assert_eq!(ledger.offer("a"), Offer::Deliver);
        assert_eq!(ledger.offer("c"), Offer::AwaitingAcceptance);
    }
}
