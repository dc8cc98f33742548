//! A task that must run on one instance at a time (the periodic reconcile, the WebSocket
//! stream): it runs while this instance holds its named lease. The lease is taken or
//! renewed three times per `store.lease`; an instance that dies stops renewing, and another
//! takes the lease over once it expired: within about `store.lease` plus one renewal period.
//! An instance that cannot renew (database unreachable) stops its copy at once.

use std::sync::Arc;
use std::time::Duration;

use super::claim::AbortOnDrop;
use crate::store::Store;

/// Runs `start()`'s task while this instance holds lease `name`; aborting the returned
/// handle stops the task (and leaves the lease to expire or be released by the caller).
pub fn spawn<F>(
    store: Arc<dyn Store>,
    name: &'static str,
    lease: Duration,
    start: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> tokio::task::JoinHandle<()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut running = AbortOnDrop(None);
        let every = lease / 3;
        loop {
            let held = match store.lease_acquire(name, lease).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(lease = name, error = %e, "lease not renewed");
                    false
                }
            };
            match (held, running.0.is_some()) {
                (true, false) => {
                    if store.shared() {
                        tracing::info!(
                            lease = name,
                            instance = store.instance(),
                            "lease taken: running here"
                        );
                    }
                    running.0 = Some(start());
                }
                (false, true) => {
                    tracing::warn!(lease = name, "lease lost: stopped here");
                    running = AbortOnDrop(None);
                }
                _ => {}
            }
            tokio::time::sleep(every).await;
        }
    })
}
