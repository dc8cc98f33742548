//! Everything mesa remembers: the event journal (accepted events until they are handled),
//! where each AP was last seen, what profile each managed port carries, and the audit log of
//! decisions. [`Store`] is the seam; [`sqlite::SqliteStore`] is the embedded default. The SQL
//! sticks to what PostgreSQL also speaks, so a shared store for several instances can follow.

pub mod migrations;
pub mod postgres;
pub mod retention;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::maintenance::MaintenanceHold;
use crate::model::{ApEvent, Decision, InterfaceName, Mac, Profile, SwitchRef};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (SQLite or PostgreSQL; the text never holds a secret).
    #[error("database: {0}")]
    Database(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot open the data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("store task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message (and hint) where there is one; `Display` alone says
        // only "db error".
        match e.as_db_error() {
            Some(db) => StoreError::Database(db.to_string()),
            None => StoreError::Database(match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Database(format!("connection pool: {other}")),
        }
    }
}

/// Opens the store `[store]` names: the SQLite file under `server.data_dir`, or the
/// PostgreSQL database at `store.url` (shared by every instance pointed at it).
pub async fn open(config: &crate::config::Config) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    use crate::config::StoreKind;
    let window = config.journal.dedupe_window.get();
    Ok(match config.store.kind {
        StoreKind::Sqlite => std::sync::Arc::new(
            sqlite::SqliteStore::open(&config.server.data_dir, config.server.fsync)?
                .with_dedupe_window(window),
        ),
        StoreKind::Postgres => {
            let url = config.store.url.as_ref().ok_or_else(|| {
                StoreError::Database("store.url is required with store.kind = \"postgres\"".into())
            })?;
            std::sync::Arc::new(
                postgres::PostgresStore::connect(url.expose(), config.store.lease.get())
                    .await?
                    .with_dedupe_window(window),
            )
        }
    })
}

/// Where an AP was last seen, per LLDP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApRecord {
    pub mac: Mac,
    pub name: Option<String>,
    pub site_id: String,
    pub switch_name: String,
    pub switch_mac: Option<Mac>,
    pub port: InterfaceName,
    pub last_event: String,
    pub last_seen: DateTime<Utc>,
}

impl ApRecord {
    /// The switch the AP was last seen on (no management address: that is Mist's to tell).
    pub fn switch(&self) -> SwitchRef {
        SwitchRef {
            name: self.switch_name.clone(),
            site_id: self.site_id.clone(),
            mac: self.switch_mac.clone(),
            mgmt_addr: None,
        }
    }
}

/// A port mesa has set (or adopted), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    pub switch_name: String,
    /// The switch's MAC: the row's identity when known (rows of switches known only by
    /// name are keyed by the name).
    pub switch_mac: Option<Mac>,
    pub port: InterfaceName,
    pub site_id: String,
    pub profile: Profile,
    /// True when mesa made this an AP port (or adopted it): only such ports are reverted.
    pub managed: bool,
    pub ap_mac: Option<Mac>,
    pub since: DateTime<Utc>,
    pub event_id: Option<String>,
}

/// Journal state of one accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalState {
    Pending,
    Done,
    /// Parked after `journal.max_attempts` runs that never finished: not run again.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub event: ApEvent,
    /// Runs of this event started and never finished nor handed back: each one ended with
    /// mesa stopping uncleanly (a new event starts at 1, its first run).
    pub attempts: u32,
}

/// Rows removed by one [`Store::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub journal: u64,
    pub decisions: u64,
}

/// The result of appending one event to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    New,
    /// Same delivery seen before (same AP, type, timestamp), or the same change reported
    /// again by a relay of Mist's events (see [`crate::model::Source::reports_mist_events`]
    /// and `journal.dedupe_window`): not journaled again.
    Duplicate,
    /// New, but another instance works on its AP's lane (a shared store): it is journaled
    /// for that instance (or whoever claims it) and not handed to this engine.
    Queued,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// One durable transaction: appends `events` (returning, per event, whether it was new
    /// or a duplicate delivery) and records the final `decisions`, closing their entries.
    async fn journal_write(
        &self,
        events: &[ApEvent],
        decisions: &[Decision],
    ) -> Result<Vec<Appended>, StoreError>;
    /// Events accepted but not finished, oldest first (resumed on start).
    async fn journal_pending(&self) -> Result<Vec<JournalEntry>, StoreError>;
    async fn journal_attempt(&self, event_id: &str) -> Result<(), StoreError>;
    /// The newest event of the same subject that was journaled before `event` and happened
    /// after it: `event` is then stale. `None` when there is none (or `event` was never
    /// journaled).
    async fn journal_newer(&self, event: &ApEvent) -> Result<Option<ApEvent>, StoreError>;
    async fn journal_counts(&self) -> Result<(u64, u64), StoreError>;

    /// Records a decision that is not final (a first failure before retries).
    async fn record_decision(&self, decision: &Decision) -> Result<(), StoreError>;
    async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>, StoreError>;

    async fn ap(&self, mac: &Mac) -> Result<Option<ApRecord>, StoreError>;
    async fn upsert_ap(&self, ap: &ApRecord) -> Result<(), StoreError>;

    /// The record of `port` on `switch`: by the switch MAC when known, else (or for a row
    /// recorded without a MAC) by name, tolerant of FQDN vs short name, on the same site.
    async fn port(
        &self,
        switch: &SwitchRef,
        port: &InterfaceName,
    ) -> Result<Option<PortRecord>, StoreError>;
    async fn upsert_port(&self, port: &PortRecord) -> Result<(), StoreError>;
    async fn ports(&self) -> Result<Vec<PortRecord>, StoreError>;

    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// One more run of each event starts now (resumed after a restart).
    async fn journal_resume(&self, event_ids: &[String]) -> Result<(), StoreError>;
    /// Runs that ended cleanly without a decision (handed back at a graceful stop): they do
    /// not count as attempts.
    async fn journal_release(&self, event_ids: &[String]) -> Result<(), StoreError>;
    /// Records the final decision of a poison event and parks its entry as failed.
    async fn journal_park(&self, decision: &Decision) -> Result<(), StoreError>;
    /// Removes finished journal rows and decisions from before `before`, in chunks of
    /// `chunk` rows so journal writes are never held up for long.
    async fn prune(&self, before: DateTime<Utc>, chunk: u32) -> Result<Pruned, StoreError>;

    /// Sets (or replaces) the maintenance hold of its site.
    async fn set_maintenance_hold(&self, hold: &MaintenanceHold) -> Result<(), StoreError>;
    /// Ends the site's hold; returns it (None when the site held nothing).
    async fn release_maintenance_hold(
        &self,
        site_id: &str,
    ) -> Result<Option<MaintenanceHold>, StoreError>;
    /// The site's stored hold, expired or not.
    async fn maintenance_hold(&self, site_id: &str) -> Result<Option<MaintenanceHold>, StoreError>;
    /// Every stored hold, expired or not, by site.
    async fn maintenance_holds(&self) -> Result<Vec<MaintenanceHold>, StoreError>;
    /// Removes the holds expired at `now` and returns them.
    async fn expire_maintenance_holds(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceHold>, StoreError>;

    // Several instances on one store. The defaults are a store only one instance uses
    // (SQLite): every event it journals is its own, every lease is its own.

    /// True when several instances may share this store: each then claims its journal work
    /// ([`Store::journal_claim`]) instead of resuming every pending event.
    fn shared(&self) -> bool {
        false
    }
    /// Takes up to `limit` pending events that no live instance works on (never journaled
    /// for one, or whose instance's lease expired), under this instance's lease, whole AP
    /// lanes at a time, oldest first. `attempts` counts this run.
    async fn journal_claim(&self, _limit: u32) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(Vec::new())
    }
    /// Extends the lease of every event this instance works on; returns how many.
    async fn journal_heartbeat(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Takes (or extends) the named lease for `ttl`; false while another instance holds it.
    async fn lease_acquire(
        &self,
        _name: &str,
        _ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Gives the named lease up (when this instance holds it).
    async fn lease_release(&self, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// The instance id this store works under (leases name it).
    fn instance(&self) -> &str {
        "local"
    }
}
