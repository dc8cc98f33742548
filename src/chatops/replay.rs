//! Replay protection beyond the timestamp window: a signed request seen once is refused if
//! it comes again within the window (a captured request re-sent as is).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

/// Slack's window: timestamps further than this from now are refused anyway.
pub const WINDOW: Duration = Duration::from_secs(300);

#[derive(Clone, Default)]
pub struct ReplayGuard {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl ReplayGuard {
    /// True the first time `signature` is presented within the window.
    pub fn first_time(&self, signature: &str) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            // A poisoned lock only means another request panicked; refusing is the safe side.
            return false;
        };
        // Twice the window: a timestamp up to WINDOW in the future stays valid that long.
        seen.retain(|_, at| now.duration_since(*at) < WINDOW * 2);
        seen.insert(signature.to_string(), now).is_none()
    }
}
