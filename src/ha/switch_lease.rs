//! One writer per switch: before a batch goes to a switch, this instance takes the lease
//! `switch:<key>`; another instance with a batch for the same switch waits for it. The lease
//! is a row in the shared store, not a session-level lock (a PgBouncer in transaction mode
//! works); the heartbeat renews it during long commits, and a dead holder's lease expires.
//! Batching per switch is unchanged: one commit per burst, now under the lease.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use async_trait::async_trait;

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::model::{PortChange, SwitchRef};
use crate::store::Store;

pub struct Leased {
    inner: Arc<dyn SwitchBackend>,
    store: Arc<dyn Store>,
    lease: Duration,
    /// The lease is this instance's for any of its tasks: two batches of one switch from
    /// this instance take turns here first, so the first one's release never frees the
    /// switch while the second still talks to it.
    local: dashmap::DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl Leased {
    /// `inner` itself when the store is not shared: one instance needs no lease.
    pub fn wrap(
        inner: Arc<dyn SwitchBackend>,
        store: Arc<dyn Store>,
        lease: Duration,
    ) -> Arc<dyn SwitchBackend> {
        if !store.shared() {
            return inner;
        }
        Arc::new(Leased {
            inner,
            store,
            lease,
            local: dashmap::DashMap::new(),
        })
    }

    /// Waits for the switch's lease: up to twice `store.lease` (a dead holder's lease has
    /// expired by then), then the batch fails as transient and is retried.
    async fn acquire(&self, name: &str) -> Result<(), BackendError> {
        let deadline = Instant::now() + 2 * self.lease;
        let mut pause = Duration::from_millis(20);
        loop {
            match self.store.lease_acquire(name, self.lease).await {
                Ok(true) => return Ok(()),
                Ok(false) if Instant::now() < deadline => {}
                Ok(false) => {
                    return Err(BackendError::Locked(format!(
                        "another mesa instance holds {name} (lease {}s)",
                        self.lease.as_secs()
                    )))
                }
                Err(e) => return Err(BackendError::Other(format!("switch lease {name}: {e}"))),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

#[async_trait]
impl SwitchBackend for Leased {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError> {
        let name = format!("switch:{}", switch.key());
        let local = self.local.entry(name.clone()).or_default().clone();
        let _turn = local.lock().await;
        self.acquire(&name).await?;
        let result = self.inner.apply(switch, changes).await;
        if let Err(e) = self.store.lease_release(&name).await {
            tracing::warn!(lease = %name, error = %e, "switch lease not released; it expires");
        }
        result
    }
}
