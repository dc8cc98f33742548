//! A small time-limited cache where concurrent misses for one key share a single fetch
//! ("single flight"). An outage brings hundreds of events for one site at the same moment;
//! without this, each would make its own identical Mist call and burn the hourly API budget.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use dashmap::DashMap;
use tokio::sync::OnceCell;

/// Above this many keys, expired entries are swept on the next insert.
const SWEEP_ABOVE: usize = 4096;

pub struct FlightCache<K, V> {
    entries: DashMap<K, Arc<OnceCell<(Instant, V)>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for FlightCache<K, V> {
    fn default() -> Self {
        FlightCache {
            entries: DashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> FlightCache<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached value for `key` if still fresh, else the result of `fetch`, which returns the
    /// value and how long it stays fresh. Callers arriving while a fetch is running wait for
    /// it. A failed fetch is not cached: the next waiter tries again.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        let slot = loop {
            let slot = match self.entries.get(&key) {
                Some(slot) => slot.clone(),
                None => {
                    self.sweep();
                    // The guard returned by `entry` is dropped at the end of this statement,
                    // before any await.
                    self.entries.entry(key.clone()).or_default().clone()
                }
            };
            match slot.get() {
                Some((expires, value)) if Instant::now() < *expires => return Ok(value.clone()),
                Some(_) => {
                    // Stale: drop it unless someone already put a fresh slot in its place.
                    self.entries
                        .remove_if(&key, |_, current| Arc::ptr_eq(current, &slot));
                }
                None => break slot,
            }
        };
        let (_, value) = slot
            .get_or_try_init(|| async {
                let (value, ttl) = fetch().await?;
                Ok::<_, E>((Instant::now() + ttl, value))
            })
            .await?;
        Ok(value.clone())
    }

    /// Forgets everything (tests, or after a configuration change).
    pub fn clear(&self) {
        self.entries.clear();
    }

    fn sweep(&self) {
        if self.entries.len() > SWEEP_ABOVE {
            let now = Instant::now();
            self.entries
                .retain(|_, slot| slot.get().is_none_or(|(expires, _)| now < *expires));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch_and_expire() {
        let cache = Arc::new(FlightCache::<&str, u32>::new());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("k", || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>((
                            fetches.fetch_add(1, Ordering::SeqCst) + 1,
                            Duration::from_millis(100),
                        ))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(1));
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
        let f = fetches.clone();
        let again = cache
            .get_or_fetch("k", || async move {
                Ok::<_, ()>((f.fetch_add(1, Ordering::SeqCst) + 1, Duration::from_secs(1)))
            })
            .await;
        assert_eq!(again, Ok(2));
    }
}
