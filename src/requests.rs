//! The ledger of pending outbound requests.
//!
//! Requests are kept in send order. Every request has the same timeout, so
//! deadlines are non-decreasing in send order and the oldest pending
//! request always holds the earliest deadline. A request without a
//! deadline (a timeout beyond the horizon) never times out.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Instant;

use crate::protocol::OutgoingFrame;
use crate::RequestId;

/// Whether `frame`, serialised as the line
/// [`OutgoingFrame::to_line`] writes (without its `'\n'`), is at most
/// `limit` bytes long. Serialises into a byte counter, never into memory,
/// and stops as soon as the count passes the limit, so a huge frame costs
/// no more than `limit` bytes of work.
pub(crate) fn line_fits(frame: &OutgoingFrame, limit: usize) -> bool {
    /// Counts bytes; fails once there are more than `left`.
    struct Counter {
        left: usize,
    }
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.left.checked_sub(buf.len()) {
                Some(left) => {
                    self.left = left;
                    Ok(buf.len())
                }
                None => Err(io::Error::other("frame too large")),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter { left: limit }, frame).is_ok()
}

/// Pending requests, written and waiting for their `outbound_result`.
///
/// Every write gets its own sequence number, and a deadline entry names
/// the write it belongs to: once a request settles, its entry can never
/// expire a later request that reuses the id.
#[derive(Debug, Default, Clone)]
pub(crate) struct Requests {
    /// The sequence number of each pending request's write.
    pending: HashMap<RequestId, u64>,
    /// Deadline entries in send order: `(deadline, write, id)`.
    order: VecDeque<(Option<Instant>, u64, RequestId)>,
    writes: u64,
}

impl Requests {
    /// Whether `id` is pending.
    pub(crate) fn contains(&self, id: &RequestId) -> bool {
        self.pending.contains_key(id)
    }

    /// Records a written request that times out at `deadline` (`None`:
    /// never).
    pub(crate) fn insert(&mut self, id: RequestId, deadline: Option<Instant>) {
        self.writes += 1;
        self.pending.insert(id.clone(), self.writes);
        self.order.push_back((deadline, self.writes, id));
    }

    /// Removes `id`; true when it was pending.
    pub(crate) fn remove(&mut self, id: &RequestId) -> bool {
        let removed = self.pending.remove(id).is_some();
        self.prune();
        removed
    }

    /// The number of pending requests.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The earliest deadline among pending requests.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().and_then(|(at, _, _)| *at)
    }

    /// Whether entry `(write, id)` belongs to a pending request.
    fn is_live(&self, write: u64, id: &RequestId) -> bool {
        self.pending.get(id) == Some(&write)
    }

    /// Removes and returns, in send order, the requests due at `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<RequestId> {
        let mut expired = Vec::new();
        while let Some((at, _, _)) = self.order.front() {
            if at.is_none_or(|at| at > now) {
                break;
            }
            if let Some((_, write, id)) = self.order.pop_front() {
                if self.is_live(write, &id) {
                    self.pending.remove(&id);
                    expired.push(id);
                }
            }
        }
        self.prune();
        expired
    }

    /// Removes and returns every pending request, in send order.
    pub(crate) fn take_all(&mut self) -> Vec<RequestId> {
        let order = std::mem::take(&mut self.order);
        let all = order
            .into_iter()
            .filter(|(_, write, id)| self.is_live(*write, id))
            .map(|(_, _, id)| id)
            .collect();
        self.pending.clear();
        all
    }

    /// Drops settled entries from the front so it always names a pending one.
    fn prune(&mut self) {
        while let Some((_, write, id)) = self.order.front() {
            if self.is_live(*write, id) {
                break;
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_fits_up_to_exactly_the_limit() {
        let frame = OutgoingFrame::InboundAck {
            buffer_id: "b1".into(),
        };
        let len = frame.to_line().len() - 1;
        assert!(line_fits(&frame, len));
        assert!(line_fits(&frame, len + 1));
        assert!(!line_fits(&frame, len - 1));
        assert!(!line_fits(&frame, 0));
    }
    use std::time::Duration;

    #[test]
    fn settled_requests_no_longer_hold_the_earliest_deadline() {
        let t0 = Instant::now();
        let mut requests = Requests::default();
        requests.insert("a".into(), Some(t0 + Duration::from_secs(1)));
        requests.insert("b".into(), Some(t0 + Duration::from_secs(2)));
        assert!(requests.remove(&"a".into()));
        assert!(!requests.remove(&"a".into()));
        assert_eq!(requests.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(requests.len(), 1);
    }

    #[test]
    fn expired_requests_come_out_in_send_order() {
        let t0 = Instant::now();
        let mut requests = Requests::default();
        for (i, id) in ["x", "y", "z"].iter().enumerate() {
            requests.insert((*id).into(), Some(t0 + Duration::from_secs(i as u64)));
        }
        let expired = requests.take_expired(t0 + Duration::from_secs(1));
        assert_eq!(expired, vec![RequestId::from("x"), RequestId::from("y")]);
        assert_eq!(requests.take_all(), vec![RequestId::from("z")]);
        assert!(requests.is_empty());
    }

    #[test]
    fn a_settled_request_never_expires_a_later_one_with_its_id() {
        let t0 = Instant::now();
        let at = |s| Some(t0 + Duration::from_secs(s));
        let mut requests = Requests::default();
        requests.insert("a".into(), at(30));
        requests.insert("b".into(), at(31));
        assert!(requests.remove(&"b".into()));
        requests.insert("b".into(), at(50));
        assert_eq!(
            requests.take_expired(t0 + Duration::from_secs(31)),
            vec!["a".into()]
        );
        assert_eq!(requests.next_deadline(), at(50));
        assert!(requests.contains(&"b".into()));
        assert_eq!(requests.take_all(), vec![RequestId::from("b")]);
    }

    #[test]
    fn take_all_skips_settled_entries_and_keeps_send_order() {
        let t0 = Instant::now();
        let mut requests = Requests::default();
        for id in ["x", "y", "z"] {
            requests.insert(id.into(), None);
        }
        assert!(requests.remove(&"y".into()));
        requests.insert("y".into(), None);
        assert_eq!(requests.next_deadline(), None);
        assert!(requests.take_expired(t0).is_empty());
        let all = requests.take_all();
        assert_eq!(all, ["x", "z", "y"].map(RequestId::from));
        assert_eq!(requests.len(), 0);
    }
}
