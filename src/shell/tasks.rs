//! Counting a link's live tasks, for the stats snapshot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One live task of a link: counted from creation until dropped (when the
/// task's future completes or is cancelled).
#[derive(Debug)]
pub(crate) struct TaskCount(Arc<AtomicUsize>);

impl TaskCount {
    /// Counts one more task on `counter`.
    pub(crate) fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for TaskCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
