//! What comes due when: the deadlines a service stores instead of scanning
//! everything it holds on every request. Advancing costs the work that is
//! due, not the size of the history.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Keys to look at again at given instants. An entry may have gone stale
/// (the object changed, was rescheduled or deleted): the owner checks each
/// key it is handed and ignores or reschedules it.
#[derive(Debug)]
pub struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    /// Breaks ties so keys need no order among equal instants.
    sequence: u64,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { heap: BinaryHeap::new(), sequence: 0 }
    }
}

impl<K: Ord> Deadlines<K> {
    /// Look at `key` again at `at`.
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, key)));
    }

    /// The keys due by `now`, earliest first, taken out of the schedule.
    pub fn due(&mut self, now: Instant) -> Vec<(Instant, K)> {
        let mut due = Vec::new();
        while self.heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            if let Some(Reverse((at, _, key))) = self.heap.pop() {
                due.push((at, key));
            }
        }
        due
    }

    /// Entries waiting (stale ones included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_come_due_in_order_and_once() {
        let start = Instant::now();
        let mut deadlines = Deadlines::default();
        deadlines.schedule(start + Duration::from_secs(2), "b");
        deadlines.schedule(start + Duration::from_secs(1), "a");
        deadlines.schedule(start + Duration::from_secs(1), "a");
        deadlines.schedule(start + Duration::from_secs(9), "late");
        assert!(deadlines.due(start).is_empty());
        let due: Vec<&str> = deadlines.due(start + Duration::from_secs(2)).into_iter().map(|(_, k)| k).collect();
        assert_eq!(due, ["a", "a", "b"]);
        assert!(deadlines.due(start + Duration::from_secs(2)).is_empty());
        assert_eq!(deadlines.len(), 1);
    }
}
