//! Site AP-stats snapshots: one paged read of `GET /sites/{site_id}/stats/devices?type=ap`
//! answers every lookup of that site that is waiting at the same moment.
//!
//! A rollout or a building powering up brings hundreds of AP_CONNECTED for one site within
//! seconds; asking Mist once per AP would spend the token's hourly budget (5,000 calls, shared
//! with every other tool of the org) on lookups alone. So a lookup that needs a view of the
//! site newer than some instant (its event's arrival, or its previous look) joins the read
//! that is gathering for that site, or opens one that starts `mist.lookup_gather` later, so
//! that lookups arriving meanwhile ride along. The read itself goes through
//! [`MistClient::site_ap_stats`](super::MistClient::site_ap_stats): every page, the shared 429
//! gate, the hourly budget.
//!
//! Callers say how old a read they accept ([`Snapshots::since`]): a lookup takes none that
//! started before its event arrived, nor before its own previous look, nor longer than
//! `mist.snapshot_ttl` ago, so no port is ever set or reverted on an older picture of the site.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::error::MistError;
use super::types::ApStat;
use crate::model::Mac;

/// Sites without a read for this long are forgotten (a campus has hundreds of sites).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The APs of one site as one read of Mist's AP stats saw them.
#[derive(Debug)]
pub struct ApSnapshot {
    pub site_id: String,
    /// When the read started (mesa's clock): nothing in it is older news than the state of
    /// Mist at that instant.
    pub read_at: DateTime<Utc>,
    taken: Instant,
    aps: HashMap<Mac, ApStat>,
}

impl ApSnapshot {
    pub fn new(site_id: &str, read_at: DateTime<Utc>, stats: Vec<ApStat>) -> ApSnapshot {
        ApSnapshot {
            site_id: site_id.to_string(),
            read_at,
            taken: Instant::now(),
            aps: stats.into_iter().map(|s| (s.mac.clone(), s)).collect(),
        }
    }

    pub fn ap(&self, mac: &Mac) -> Option<&ApStat> {
        self.aps.get(mac)
    }

    pub fn len(&self) -> usize {
        self.aps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.aps.is_empty()
    }

    /// Time since the read started.
    pub fn age(&self) -> Duration {
        self.taken.elapsed()
    }
}

type ReadResult = Result<Arc<ApSnapshot>, MistError>;

/// A read being gathered: it starts at `starts`, everyone who joins before gets its answer.
struct Pending {
    starts: DateTime<Utc>,
    answer: OnceCell<ReadResult>,
}

#[derive(Default)]
struct Site {
    latest: Option<Arc<ApSnapshot>>,
    pending: Option<Arc<Pending>>,
    touched: Option<Instant>,
}

/// The snapshots of every site, one per Mist client.
pub struct Snapshots {
    gather: Duration,
    sites: Mutex<HashMap<String, Site>>,
    /// Site → last lookup noted.
    recent: Mutex<HashMap<String, Instant>>,
    reads: std::sync::atomic::AtomicU64,
}

impl Snapshots {
    pub fn new(gather: Duration) -> Snapshots {
        Snapshots {
            gather,
            sites: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            reads: Default::default(),
        }
    }

    /// Notes that a lookup of `site_id` is under way (for [`Snapshots::busy_sites`]).
    pub fn note(&self, site_id: &str) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        recent.retain(|_, at| now - *at < FORGET_AFTER);
        recent.insert(site_id.to_string(), now);
    }

    /// Sites with a lookup noted within `within`.
    pub fn busy_sites(&self, within: Duration) -> usize {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.values().filter(|at| at.elapsed() < within).count()
    }

    /// Reads made so far (tests, benchmarks).
    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A snapshot of the site whose read started at or after `since`: the latest one if it
    /// qualifies, else the read gathering for the site, else a new one that starts after the
    /// gathering window. `read` reads the site (called once per read, by one of the waiters;
    /// if that waiter goes away another one takes over). A failed read is handed to everyone
    /// who waited for it and kept by no one.
    pub async fn since<F, Fut>(
        &self,
        site_id: &str,
        since: DateTime<Utc>,
        read: F,
    ) -> Result<Arc<ApSnapshot>, MistError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<ApStat>, MistError>>,
    {
        self.gathered(site_id, since, self.gather, read).await
    }

    /// [`Snapshots::since`] for any scope (a site id, or `org:<org_id>` for the whole org),
    /// gathering for `gather`.
    pub async fn gathered<F, Fut>(
        &self,
        site_id: &str,
        since: DateTime<Utc>,
        gather: Duration,
        read: F,
    ) -> Result<Arc<ApSnapshot>, MistError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<ApStat>, MistError>>,
    {
        let pending = {
            let mut sites = self.lock();
            let now = Instant::now();
            sites.retain(|_, s| s.touched.is_some_and(|t| now - t < FORGET_AFTER));
            let site = sites.entry(site_id.to_string()).or_default();
            site.touched = Some(now);
            if let Some(latest) = site.latest.as_ref().filter(|l| l.read_at >= since) {
                return Ok(latest.clone());
            }
            match site.pending.as_ref().filter(|p| p.starts >= since) {
                Some(p) => p.clone(),
                None => {
                    let gather = chrono::Duration::from_std(gather).unwrap_or_default();
                    let p = Arc::new(Pending {
                        starts: since.max(crate::clock::now()) + gather,
                        answer: OnceCell::new(),
                    });
                    site.pending = Some(p.clone());
                    p
                }
            }
        };
        pending
            .answer
            .get_or_init(|| async {
                let wait = (pending.starts - crate::clock::now())
                    .to_std()
                    .unwrap_or_default();
                tokio::time::sleep(wait).await;
                let read_at = crate::clock::now();
                self.reads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let answer = read()
                    .await
                    .map(|stats| Arc::new(ApSnapshot::new(site_id, read_at, stats)));
                let mut sites = self.lock();
                let site = sites.entry(site_id.to_string()).or_default();
                if site
                    .pending
                    .as_ref()
                    .is_some_and(|p| Arc::ptr_eq(p, &pending))
                {
                    site.pending = None;
                }
                if let Ok(snapshot) = &answer {
                    if site
                        .latest
                        .as_ref()
                        .is_none_or(|l| l.read_at <= snapshot.read_at)
                    {
                        site.latest = Some(snapshot.clone());
                    }
                }
                answer
            })
            .await
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Site>> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.sites.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn stat(mac: &str) -> ApStat {
        ApStat {
            mac: Mac::parse(mac).unwrap(),
            name: None,
            site_id: Some("s1".into()),
            status: "connected".into(),
            last_seen: Some(1.0),
            lldp_stat: None,
        }
    }

    #[tokio::test]
    async fn waiters_share_a_read_and_later_ones_get_a_newer_one() {
        let snaps = Arc::new(Snapshots::new(Duration::from_millis(50)));
        let reads = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        let since = crate::clock::now();
        for _ in 0..20 {
            let (snaps, reads) = (snaps.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                snaps
                    .since("s1", since, || async move {
                        reads.fetch_add(1, Ordering::SeqCst);
                        Ok(vec![stat("5c5b35000001")])
                    })
                    .await
                    .map(|s| s.read_at)
            }));
        }
        let mut read_at = Vec::new();
        for t in tasks {
            read_at.push(t.await.unwrap().unwrap());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(read_at.iter().all(|r| *r == read_at[0] && *r >= since));
        // Asked for a view newer than the last read: a new read.
        let later = crate::clock::now();
        let again = snaps
            .since("s1", later, || async { Ok(vec![]) })
            .await
            .unwrap();
        assert!(again.read_at >= later && again.is_empty());
        assert_eq!(snaps.reads(), 2);
        // A failed read is not kept: the next caller reads again.
        let failed = snaps
            .since("s1", crate::clock::now(), || async {
                Err(MistError::Timeout { attempts: 1 })
            })
            .await;
        assert!(failed.is_err());
        assert!(snaps
            .since("s1", crate::clock::now(), || async {
                Ok(vec![stat("5c5b35000002")])
            })
            .await
            .is_ok());
    }
}
