//! The ids a backend has lately been given, so a redelivered event is not
//! sent to it twice. Bounded: a redelivery follows its first delivery within
//! the ack wait, long before thousands of newer events push it out.

use std::collections::{HashSet, VecDeque};

pub(crate) struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), ids: HashSet::new() }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub(crate) fn insert(&mut self, id: &str) {
        if !self.ids.insert(id.to_owned()) {
            return;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_id_leaves_first() {
        let mut recent = RecentIds::new(2);
        recent.insert("a");
        recent.insert("b");
        recent.insert("a");
        assert!(recent.contains("a") && recent.contains("b"));
        recent.insert("c");
        assert!(!recent.contains("a") && recent.contains("b") && recent.contains("c"));
    }
}
