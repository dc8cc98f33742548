//! Per-rule rate limit: at most `max_per_minute` messages in any sliding minute. Grouping
//! already folds storms into one message; this caps what is left (many sites at once). What
//! the limit holds back is not lost: the worker sends it as one summary at the next free
//! place.

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::Instant;

const MINUTE: Duration = Duration::from_secs(60);

pub struct RateLimit {
    per_minute: usize,
    sent: VecDeque<Instant>,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute: per_minute.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    /// Takes one message's place in the minute, if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.per_minute {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

impl RateLimit {
    /// When the next message may go: None when it may go now.
    pub fn free_at(&mut self, now: Instant) -> Option<Instant> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.per_minute {
            return None;
        }
        self.sent.front().map(|t| *t + MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_n_per_sliding_minute() {
        let mut limit = RateLimit::new(2);
        let t0 = Instant::now();
        assert!(limit.allow(t0));
        assert!(limit.allow(t0 + Duration::from_secs(1)));
        assert!(!limit.allow(t0 + Duration::from_secs(2)));
        assert_eq!(
            limit.free_at(t0 + Duration::from_secs(2)),
            Some(t0 + Duration::from_secs(60))
        );
        assert!(limit.allow(t0 + Duration::from_secs(60)));
        assert!(!limit.allow(t0 + Duration::from_secs(60)));
        assert_eq!(limit.free_at(t0 + Duration::from_secs(200)), None);
    }
}
