//! Who spent the calls: a counter a task opens around its work (the engine, around one
//! event) and every Mist call sent from inside it adds to, so a decision can say how many
//! calls it took. Calls answered from the cache, or by another task's call in flight, cost
//! nothing and count nothing. Work handed to another task (a backend batch lane) counts in
//! that task's scope, not here.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static SCOPE: Arc<AtomicU32>;
}

/// A counter of Mist calls; clone it to read it from outside the scope.
#[derive(Debug, Clone, Default)]
pub struct CallCount(Arc<AtomicU32>);

impl CallCount {
    pub fn new() -> CallCount {
        CallCount::default()
    }

    /// Runs `work` with every Mist call it sends counted here.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        SCOPE.scope(self.0.clone(), work).await
    }

    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Calls counted so far in the current scope; `None` outside any.
pub fn current() -> Option<u32> {
    SCOPE.try_with(|c| c.load(Ordering::Relaxed)).ok()
}

/// One call sent (the client calls this per HTTP attempt).
pub(crate) fn count_one() {
    let _ = SCOPE.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_inside_its_scope_only() {
        count_one();
        assert_eq!(current(), None);
        let calls = CallCount::new();
        let seen = calls
            .scope(async {
                count_one();
                count_one();
                current()
            })
            .await;
        assert_eq!(seen, Some(2));
        assert_eq!(calls.get(), 2);
    }
}
