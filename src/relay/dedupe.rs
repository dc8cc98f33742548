//! Duplicate deliveries: with a webhook at org level and one at site level Mist sends the
//! same event twice. The first copy is relayed; copies within the window are counted only.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::clock::Instant;

/// Keys remembered at most; the oldest go first beyond it (a storm cannot grow memory).
const MAX_KEYS: usize = 100_000;

pub struct Seen {
    window: Duration,
    at: HashMap<u64, Instant>,
    order: VecDeque<(Instant, u64)>,
}

impl Seen {
    pub fn new(window: Duration) -> Seen {
        Seen {
            window,
            at: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True the first time `key` is seen within the window.
    pub fn first_time(&mut self, key: u64, now: Instant) -> bool {
        while let Some(&(t, k)) = self.order.front() {
            if now.duration_since(t) < self.window && self.order.len() < MAX_KEYS {
                break;
            }
            self.order.pop_front();
            if self.at.get(&k) == Some(&t) {
                self.at.remove(&k);
            }
        }
        if self.at.contains_key(&key) {
            return false;
        }
        self.at.insert(key, now);
        self.order.push_back((now, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_within_the_window_is_a_duplicate() {
        let mut seen = Seen::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(seen.first_time(1, t0));
        assert!(!seen.first_time(1, t0 + Duration::from_secs(5)));
        assert!(seen.first_time(2, t0 + Duration::from_secs(5)));
        assert!(seen.first_time(1, t0 + Duration::from_secs(61)));
    }
}
