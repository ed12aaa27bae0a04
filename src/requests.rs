//! The ledger of pending outbound requests.
//!
//! Requests are kept in send order. Every request has the same timeout, so
//! deadlines are non-decreasing in send order and the oldest pending
//! request always holds the earliest deadline. A request without a
//! deadline (a timeout beyond the horizon) never times out.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::RequestId;

/// Pending requests, written and waiting for their `outbound_result`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Requests {
    deadlines: HashMap<RequestId, Option<Instant>>,
    order: VecDeque<(Option<Instant>, RequestId)>,
}

impl Requests {
    /// Whether `id` is pending.
    pub(crate) fn contains(&self, id: &RequestId) -> bool {
        self.deadlines.contains_key(id)
    }

    /// Records a written request that times out at `deadline` (`None`:
    /// never).
    pub(crate) fn insert(&mut self, id: RequestId, deadline: Option<Instant>) {
        self.deadlines.insert(id.clone(), deadline);
        self.order.push_back((deadline, id));
    }

    /// Removes `id`; true when it was pending.
    pub(crate) fn remove(&mut self, id: &RequestId) -> bool {
        let removed = self.deadlines.remove(id).is_some();
        self.prune();
        removed
    }

    /// The number of pending requests.
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// The earliest deadline among pending requests.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().and_then(|(at, _)| *at)
    }

    /// Removes and returns, in send order, the requests due at `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<RequestId> {
        let mut expired = Vec::new();
        while let Some((at, _)) = self.order.front() {
            if at.is_none_or(|at| at > now) {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                if self.deadlines.remove(&id).is_some() {
                    expired.push(id);
                }
            }
        }
        self.prune();
        expired
    }

    /// Removes and returns every pending request, in send order.
    pub(crate) fn take_all(&mut self) -> Vec<RequestId> {
        let all = self
            .order
            .drain(..)
            .filter_map(|(_, id)| self.deadlines.remove(&id).map(|_| id))
            .collect();
        self.deadlines.clear();
        all
    }

    /// Drops settled entries from the front so it always names a pending one.
    fn prune(&mut self) {
        while let Some((_, id)) = self.order.front() {
            if self.deadlines.contains_key(id) {
                break;
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
