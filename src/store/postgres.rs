//! The shared store: one PostgreSQL database that several mesa instances use at once
//! (`store.kind = "postgres"`), through a connection pool.
//!
//! What makes sharing safe lives here, in SQL:
//! - journal rows carry a lease (`owner`, `lease_until`, the database's clock): an instance
//!   works only on rows it holds, renews them with a heartbeat, and takes over rows whose
//!   lease expired ([`Store::journal_claim`]). A new event goes to the instance already
//!   working on its AP's lane, so one AP's events never run on two instances at once;
//! - appends lock their subjects (transaction-scoped advisory locks, in one order), so
//!   duplicate detection by content holds across instances;
//! - named leases (`leases`) give one writer per switch and the singletons.
//!
//! Only transaction-scoped locks are used, never session-level ones: a PgBouncer in
//! transaction mode in front of the database works.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::sqlite::{from_json, interface, json, mac, named_alike, pick_port, time};
use super::{ApRecord, Appended, JournalEntry, PortRecord, Pruned, Store, StoreError};
use crate::maintenance::MaintenanceHold;
use crate::model::{switch_key, ApEvent, Decision, InterfaceName, Mac, Profile, SwitchRef};

/// Advisory lock keys (transaction-scoped). Subjects use `hashtextextended(subject, 0)`;
/// these constants are outside any plausible collision worry for a handful of keys.
const MIGRATE_LOCK: i64 = 0x6d65_7361_0001;
const CLAIM_LOCK: i64 = 0x6d65_7361_0002;

/// The channel a NOTIFY wakes claimers on when an event was journaled for someone else.
pub const WAKE_CHANNEL: &str = "mesa_journal";

pub struct PostgresStore {
    pool: Pool,
    /// This instance, as named in leases: host, process and a random part (a restarted
    /// instance is a new owner; its old leases expire).
    owner: String,
    lease: Duration,
    dedupe_window: Duration,
}

impl PostgresStore {
    /// Connects to `url`, checks the database answers, and brings its schema up to date
    /// (one instance at a time: others starting alongside wait for it).
    pub async fn connect(url: &str, lease: Duration) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            // The parser's message never repeats the URL (it may hold a password).
            StoreError::Database(format!("store.url is not a PostgreSQL URL: {e}"))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Database(format!("connection pool: {e}")))?;
        let store = PostgresStore {
            pool,
            owner: instance_name(),
            lease,
            dedupe_window: super::sqlite::DEDUPE_WINDOW,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// See [`super::sqlite::SqliteStore::with_dedupe_window`].
    pub fn with_dedupe_window(mut self, window: Duration) -> PostgresStore {
        self.dedupe_window = window;
        self
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await?;
        let applied: std::collections::BTreeSet<i64> = tx
            .query("SELECT version FROM schema_version", &[])
            .await?
            .iter()
            .map(|r| r.col(0))
            .collect::<Result<_, _>>()?;
        for migration in super::migrations::ALL {
            if applied.contains(&migration.version) {
                continue;
            }
            if !migration.postgres.is_empty() {
                tx.batch_execute(migration.postgres).await?;
            }
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&migration.version],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn lease_secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }
}

/// A column's value; a row of another shape than the schema's is corrupt, never a panic.
trait Col {
    fn col<'a, I, T>(&'a self, idx: I) -> Result<T, StoreError>
    where
        I: tokio_postgres::row::RowIndex + std::fmt::Display,
        T: tokio_postgres::types::FromSql<'a>;
}

impl Col for tokio_postgres::Row {
    fn col<'a, I, T>(&'a self, idx: I) -> Result<T, StoreError>
    where
        I: tokio_postgres::row::RowIndex + std::fmt::Display,
        T: tokio_postgres::types::FromSql<'a>,
    {
        self.try_get(idx)
            .map_err(|e| StoreError::Corrupt(format!("unexpected column: {e}")))
    }
}

fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "mesa".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

fn entries(rows: &[tokio_postgres::Row]) -> Result<Vec<JournalEntry>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(JournalEntry {
                event: from_json(r.col::<_, &str>("event")?)?,
                attempts: u32::try_from(r.col::<_, i32>("attempts")?).unwrap_or(0),
            })
        })
        .collect()
}

#[async_trait]
impl Store for PostgresStore {
    async fn journal_write(
        &self,
        events: &[ApEvent],
        decisions: &[Decision],
    ) -> Result<Vec<Appended>, StoreError> {
        let window_ms = i64::try_from(self.dedupe_window.as_millis()).unwrap_or(i64::MAX);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // A group costs a handful of round trips whatever its size: the subjects' state in
        // one query, the rows in one insert, the decisions in one insert and one update.
        let mut subjects: Vec<String> = events.iter().map(|e| e.subject().key()).collect();
        subjects.sort();
        subjects.dedup();
        let mut lanes = std::collections::HashMap::new();
        if !subjects.is_empty() {
            // Appends of one subject are serialised across instances (duplicate detection
            // and lane assignment read what the other wrote); subjects are locked in one
            // order so two group commits never deadlock.
            tx.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM
                   (SELECT hashtextextended(s, 0) AS k FROM unnest($1::text[]) s ORDER BY 1) t",
                &[&subjects],
            )
            .await?;
            // Per subject: its latest event (duplicate detection by content) and whether this
            // instance may take new events of it: nothing pending, or only its own work.
            for row in tx
                .query(
                    "SELECT s.subject, l.kind, l.source, l.event_ms,
                       NOT EXISTS (SELECT 1 FROM journal j WHERE j.subject = s.subject
                         AND j.state = 'pending'
                         AND (j.owner IS DISTINCT FROM $2 OR j.lease_until < now())) AS mine
                     FROM unnest($1::text[]) AS s(subject)
                     LEFT JOIN LATERAL (SELECT kind, source, event_ms FROM journal
                       WHERE subject = s.subject ORDER BY event_ms DESC, seq DESC LIMIT 1) l
                       ON true",
                    &[&subjects, &self.owner],
                )
                .await?
            {
                let latest = match (
                    row.col::<_, Option<String>>(1)?,
                    row.col::<_, Option<String>>(2)?,
                    row.col::<_, Option<i64>>(3)?,
                ) {
                    (Some(kind), Some(source), Some(at)) => Some(Latest {
                        kind,
                        relays_mist: relays_mist(&source),
                        at,
                    }),
                    _ => None,
                };
                lanes.insert(
                    row.col::<_, String>(0)?,
                    Lane {
                        latest,
                        mine: row.col(4)?,
                    },
                );
            }
        }
        let mut results = Vec::with_capacity(events.len());
        let mut rows = NewRows::default();
        for event in events {
            let subject = event.subject().key();
            let Some(lane) = lanes.get_mut(&subject) else {
                return Err(StoreError::Task(format!("subject {subject} not locked")));
            };
            let at = event.timestamp.ordering();
            if event.source.reports_mist_events()
                && lane.latest.as_ref().is_some_and(|l| {
                    l.relays_mist && l.kind == event.kind.as_str() && (at - l.at).abs() <= window_ms
                })
            {
                results.push(Appended::Duplicate);
                continue;
            }
            if lane.latest.as_ref().is_none_or(|l| at >= l.at) {
                lane.latest = Some(Latest {
                    kind: event.kind.as_str().to_string(),
                    relays_mist: event.source.reports_mist_events(),
                    at,
                });
            }
            rows.push(event, subject, lane.mine)?;
            results.push(if lane.mine {
                Appended::New
            } else {
                Appended::Queued
            });
        }
        if !rows.id.is_empty() {
            let inserted: std::collections::HashSet<String> = tx
                .query(
                    "INSERT INTO journal (id, dedupe_key, ap_mac, received_at, event, attempts,
                                          subject, kind, source, event_ms, owner, lease_until)
                     SELECT id, dedupe_key, ap_mac, received_at, event,
                            CASE WHEN mine THEN 1 ELSE 0 END, subject, kind, source, event_ms,
                            CASE WHEN mine THEN $11 END,
                            CASE WHEN mine THEN now() + make_interval(secs => $12) END
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::text[], $8::text[], $9::int8[], $10::bool[])
                          WITH ORDINALITY AS t(id, dedupe_key, ap_mac, received_at, event,
                                               subject, kind, source, event_ms, mine, n)
                     ORDER BY n
                     ON CONFLICT DO NOTHING
                     RETURNING id",
                    &[
                        &rows.id,
                        &rows.dedupe_key,
                        &rows.ap_mac,
                        &rows.received_at,
                        &rows.event,
                        &rows.subject,
                        &rows.kind,
                        &rows.source,
                        &rows.event_ms,
                        &rows.mine,
                        &self.owner,
                        &self.lease_secs(),
                    ],
                )
                .await?
                .iter()
                .map(|r| r.col(0))
                .collect::<Result<_, _>>()?;
            // Rows the insert skipped: the same delivery journaled before.
            let mut next = rows.id.iter();
            for result in results.iter_mut().filter(|r| **r != Appended::Duplicate) {
                if next.next().is_some_and(|id| !inserted.contains(id)) {
                    *result = Appended::Duplicate;
                }
            }
        }
        if !decisions.is_empty() {
            insert_decisions(&tx, decisions).await?;
            let ids: Vec<&str> = decisions.iter().map(|d| d.event.id.as_str()).collect();
            tx.execute(
                "UPDATE journal SET state = 'done', finished_at = $2, owner = NULL,
                   lease_until = NULL WHERE id = ANY($1)",
                &[&ids, &crate::clock::now().to_rfc3339()],
            )
            .await?;
        }
        if results.contains(&Appended::Queued) {
            // Delivered at commit; only a wake-up: claimers poll anyway.
            tx.execute("SELECT pg_notify($1, '')", &[&WAKE_CHANNEL])
                .await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn journal_pending(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event, attempts FROM journal WHERE state = 'pending' ORDER BY seq",
                &[],
            )
            .await?;
        entries(&rows)
    }

    async fn journal_attempt(&self, event_id: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE journal SET attempts = attempts + 1 WHERE id = $1",
                &[&event_id],
            )
            .await?;
        Ok(())
    }

    async fn journal_newer(&self, event: &ApEvent) -> Result<Option<ApEvent>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT event FROM journal
                 WHERE subject = $1 AND event_ms > $2
                   AND seq < (SELECT seq FROM journal WHERE id = $3)
                 ORDER BY event_ms DESC, seq DESC LIMIT 1",
                &[
                    &event.subject().key(),
                    &event.timestamp.ordering(),
                    &event.id,
                ],
            )
            .await?;
        row.map(|r| from_json(r.col::<_, &str>(0)?)).transpose()
    }

    async fn journal_counts(&self) -> Result<(u64, u64), StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'pending'),
                        count(*) FILTER (WHERE state = 'done') FROM journal",
                &[],
            )
            .await?;
        let count = |i: usize| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.col::<_, i64>(i)?).unwrap_or(0))
        };
        Ok((count(0)?, count(1)?))
    }

    async fn record_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        insert_decision(&client, decision).await
    }

    async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT body FROM decisions ORDER BY seq DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| from_json(r.col::<_, &str>(0)?))
            .collect()
    }

    async fn ap(&self, ap_mac: &Mac) -> Result<Option<ApRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT mac, name, site_id, switch_name, switch_mac, port, last_event, last_seen
                 FROM aps WHERE mac = $1",
                &[&ap_mac.as_str()],
            )
            .await?;
        row.map(|r| {
            Ok(ApRecord {
                mac: mac(r.col(0)?)?,
                name: r.col(1)?,
                site_id: r.col(2)?,
                switch_name: r.col(3)?,
                switch_mac: r.get::<_, Option<&str>>(4).map(mac).transpose()?,
                port: interface(r.col(5)?)?,
                last_event: r.col(6)?,
                last_seen: time(r.col(7)?)?,
            })
        })
        .transpose()
    }

    async fn upsert_ap(&self, ap: &ApRecord) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO aps (mac, name, site_id, switch_name, switch_mac, port, last_event,
                                  last_seen, switch_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (mac) DO UPDATE SET name = excluded.name,
                   site_id = excluded.site_id, switch_name = excluded.switch_name,
                   switch_mac = excluded.switch_mac, port = excluded.port,
                   last_event = excluded.last_event, last_seen = excluded.last_seen,
                   switch_key = excluded.switch_key",
                &[
                    &ap.mac.as_str(),
                    &ap.name,
                    &ap.site_id,
                    &ap.switch_name,
                    &ap.switch_mac.as_ref().map(|m| m.to_string()),
                    &ap.port.as_str(),
                    &ap.last_event,
                    &ap.last_seen.to_rfc3339(),
                    &switch_key(ap.switch_mac.as_ref(), &ap.switch_name),
                ],
            )
            .await?;
        Ok(())
    }

    async fn port(
        &self,
        switch: &SwitchRef,
        port: &InterfaceName,
    ) -> Result<Option<PortRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = rows_of_port(&client, port).await?;
        Ok(pick_port(rows, switch))
    }

    async fn upsert_port(&self, p: &PortRecord) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let key = switch_key(p.switch_mac.as_ref(), &p.switch_name);
        if p.switch_mac.is_some() {
            // As in SQLite: a row recorded under the switch's name alone takes the MAC key.
            let switch = SwitchRef {
                name: p.switch_name.clone(),
                site_id: p.site_id.clone(),
                mac: None,
                mgmt_addr: None,
            };
            for old in rows_of_port(&tx, &p.port).await? {
                if old.switch_mac.is_none() && named_alike(&old, &switch) {
                    tx.execute(
                        "DELETE FROM ports WHERE switch_key = $1 AND port = $2",
                        &[&switch_key(None, &old.switch_name), &old.port.as_str()],
                    )
                    .await?;
                }
            }
        }
        tx.execute(
            "INSERT INTO ports (switch_key, switch_name, switch_mac, port, site_id, profile,
                                managed, ap_mac, since, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (switch_key, port) DO UPDATE SET switch_name = excluded.switch_name,
               switch_mac = excluded.switch_mac, site_id = excluded.site_id,
               profile = excluded.profile, managed = excluded.managed, ap_mac = excluded.ap_mac,
               since = excluded.since, event_id = excluded.event_id",
            &[
                &key,
                &p.switch_name,
                &p.switch_mac.as_ref().map(|m| m.to_string()),
                &p.port.as_str(),
                &p.site_id,
                &p.profile.as_str(),
                &p.managed,
                &p.ap_mac.as_ref().map(|m| m.to_string()),
                &p.since.to_rfc3339(),
                &p.event_id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ports(&self) -> Result<Vec<PortRecord>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(&format!("{PORT_SELECT} ORDER BY switch_name, port"), &[])
            .await?
            .iter()
            .map(port_row)
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn journal_resume(&self, event_ids: &[String]) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE journal SET attempts = attempts + 1
                 WHERE id = ANY($1) AND state = 'pending'",
                &[&event_ids],
            )
            .await?;
        Ok(())
    }

    async fn journal_release(&self, event_ids: &[String]) -> Result<(), StoreError> {
        // Handed back at a graceful stop: free for another instance at once, and the run
        // that ended cleanly does not count.
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE journal SET attempts = GREATEST(attempts - 1, 0), owner = NULL,
                   lease_until = NULL
                 WHERE id = ANY($1) AND state = 'pending'
                   AND (owner IS NULL OR owner = $2)",
                &[&event_ids, &self.owner],
            )
            .await?;
        Ok(())
    }

    async fn journal_park(&self, decision: &Decision) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        insert_decision(&tx, decision).await?;
        tx.execute(
            "UPDATE journal SET state = 'failed', finished_at = $2, owner = NULL,
               lease_until = NULL WHERE id = $1",
            &[&decision.event.id, &crate::clock::now().to_rfc3339()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune(&self, before: DateTime<Utc>, chunk: u32) -> Result<Pruned, StoreError> {
        let cutoff = before.to_rfc3339();
        let chunk = i64::from(chunk.max(1));
        let client = self.pool.get().await?;
        let mut pruned = Pruned::default();
        for (journal, sql) in [
            (
                true,
                "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal
                 WHERE state IN ('done', 'failed') AND finished_at < $1 LIMIT $2)",
            ),
            (
                false,
                "DELETE FROM decisions WHERE seq IN (SELECT seq FROM decisions
                 WHERE decided_at < $1 LIMIT $2)",
            ),
        ] {
            loop {
                let removed = client.execute(sql, &[&cutoff, &chunk]).await?;
                if journal {
                    pruned.journal += removed;
                } else {
                    pruned.decisions += removed;
                }
                if removed < chunk as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }

    async fn set_maintenance_hold(&self, h: &MaintenanceHold) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO maintenance_holds (site_id, reason, actor, set_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (site_id) DO UPDATE SET reason = excluded.reason,
                   actor = excluded.actor, set_at = excluded.set_at,
                   expires_at = excluded.expires_at",
                &[
                    &h.site_id,
                    &h.reason,
                    &h.actor,
                    &h.set_at.to_rfc3339(),
                    &h.expires_at.map(|t| t.to_rfc3339()),
                ],
            )
            .await?;
        Ok(())
    }

    async fn release_maintenance_hold(
        &self,
        site_id: &str,
    ) -> Result<Option<MaintenanceHold>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "DELETE FROM maintenance_holds WHERE site_id = $1
                 RETURNING site_id, reason, actor, set_at, expires_at",
                &[&site_id],
            )
            .await?;
        row.as_ref().map(hold_row).transpose()
    }

    async fn maintenance_hold(&self, site_id: &str) -> Result<Option<MaintenanceHold>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT site_id, reason, actor, set_at, expires_at FROM maintenance_holds
                 WHERE site_id = $1",
                &[&site_id],
            )
            .await?;
        row.as_ref().map(hold_row).transpose()
    }

    async fn maintenance_holds(&self) -> Result<Vec<MaintenanceHold>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT site_id, reason, actor, set_at, expires_at FROM maintenance_holds
                 ORDER BY site_id",
                &[],
            )
            .await?
            .iter()
            .map(hold_row)
            .collect()
    }

    async fn expire_maintenance_holds(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceHold>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let holds: Vec<MaintenanceHold> = tx
            .query(
                "SELECT site_id, reason, actor, set_at, expires_at FROM maintenance_holds
                 ORDER BY site_id FOR UPDATE",
                &[],
            )
            .await?
            .iter()
            .map(hold_row)
            .collect::<Result<_, _>>()?;
        let expired: Vec<MaintenanceHold> =
            holds.into_iter().filter(|h| !h.is_active(now)).collect();
        let sites: Vec<&str> = expired.iter().map(|h| h.site_id.as_str()).collect();
        tx.execute(
            "DELETE FROM maintenance_holds WHERE site_id = ANY($1)",
            &[&sites],
        )
        .await?;
        tx.commit().await?;
        Ok(expired)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn journal_claim(&self, limit: u32) -> Result<Vec<JournalEntry>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Claims are serialised (a short transaction, no network call of mesa's inside):
        // two instances never split one AP's lane between them.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
            .await?;
        // A row is free when nobody holds it or its holder's lease expired; it may be taken
        // when no older row of its lane is held by another live instance.
        let mut rows = tx
            .query(
                "UPDATE journal SET owner = $1,
                   lease_until = now() + make_interval(secs => $2),
                   attempts = attempts + 1
                 WHERE seq IN (
                   SELECT j.seq FROM journal j
                   WHERE j.state = 'pending'
                     AND (j.owner IS NULL OR (j.lease_until < now() AND j.owner <> $1))
                     AND NOT EXISTS (
                       SELECT 1 FROM journal o
                       WHERE o.subject = j.subject AND o.state = 'pending' AND o.seq < j.seq
                         AND o.owner <> $1 AND o.lease_until >= now())
                   ORDER BY j.seq
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED)
                 RETURNING seq, event, attempts",
                &[&self.owner, &self.lease_secs(), &i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        rows.sort_by_key(|r| r.col::<_, i64>("seq").unwrap_or(i64::MAX));
        entries(&rows)
    }

    async fn journal_heartbeat(&self) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let renewed = client
            .execute(
                "UPDATE journal SET lease_until = now() + make_interval(secs => $2)
                 WHERE owner = $1 AND state = 'pending'",
                &[&self.owner, &self.lease_secs()],
            )
            .await?;
        client
            .execute(
                "UPDATE leases SET until = now() + make_interval(secs => $2) WHERE owner = $1",
                &[&self.owner, &self.lease_secs()],
            )
            .await?;
        Ok(renewed)
    }

    async fn lease_acquire(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "INSERT INTO leases (name, owner, until)
                 VALUES ($1, $2, now() + make_interval(secs => $3))
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
                 WHERE leases.owner = excluded.owner OR leases.until < now()
                 RETURNING owner",
                &[&name, &self.owner, &ttl.as_secs_f64()],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn lease_release(&self, name: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM leases WHERE name = $1 AND owner = $2",
                &[&name, &self.owner],
            )
            .await?;
        Ok(())
    }

    fn instance(&self) -> &str {
        &self.owner
    }
}

/// The latest journaled event of a subject, for duplicate detection by content (see the
/// SQLite store's `reported_just_before`).
struct Latest {
    kind: String,
    relays_mist: bool,
    at: i64,
}

struct Lane {
    latest: Option<Latest>,
    mine: bool,
}

fn relays_mist(source: &str) -> bool {
    serde_json::from_value::<crate::model::Source>(serde_json::Value::String(source.into()))
        .is_ok_and(|s| s.reports_mist_events())
}

/// The columns of a group's new journal rows, as arrays for one `unnest` insert.
#[derive(Default)]
struct NewRows {
    id: Vec<String>,
    dedupe_key: Vec<String>,
    ap_mac: Vec<String>,
    received_at: Vec<String>,
    event: Vec<String>,
    subject: Vec<String>,
    kind: Vec<String>,
    source: Vec<String>,
    event_ms: Vec<i64>,
    mine: Vec<bool>,
}

impl NewRows {
    fn push(&mut self, event: &ApEvent, subject: String, mine: bool) -> Result<(), StoreError> {
        self.id.push(event.id.clone());
        self.dedupe_key.push(event.dedupe_key());
        self.ap_mac.push(event.ap_mac.as_str().to_string());
        self.received_at.push(event.received_at.to_rfc3339());
        self.event.push(json(event)?);
        self.subject.push(subject);
        self.kind.push(event.kind.as_str().to_string());
        self.source.push(event.source.as_str().to_string());
        self.event_ms.push(event.timestamp.ordering());
        self.mine.push(mine);
        Ok(())
    }
}

async fn insert_decisions(client: &impl GenericClient, ds: &[Decision]) -> Result<(), StoreError> {
    let bodies = ds.iter().map(json).collect::<Result<Vec<_>, _>>()?;
    let column = |f: &dyn Fn(&Decision) -> String| ds.iter().map(f).collect::<Vec<String>>();
    client
        .execute(
            "INSERT INTO decisions (event_id, ap_mac, site_id, kind, outcome, decided_at, body)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])",
            &[
                &column(&|d| d.event.id.clone()),
                &column(&|d| d.event.ap_mac.as_str().to_string()),
                &column(&|d| d.event.site_id.clone()),
                &column(&|d| d.event.kind.as_str().to_string()),
                &column(&|d| d.outcome.label().to_string()),
                &column(&|d| d.decided_at.to_rfc3339()),
                &bodies,
            ],
        )
        .await?;
    Ok(())
}

async fn insert_decision(client: &impl GenericClient, d: &Decision) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO decisions (event_id, ap_mac, site_id, kind, outcome, decided_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &d.event.id,
                &d.event.ap_mac.as_str(),
                &d.event.site_id,
                &d.event.kind.as_str(),
                &d.outcome.label(),
                &d.decided_at.to_rfc3339(),
                &json(d)?,
            ],
        )
        .await?;
    Ok(())
}

const PORT_SELECT: &str = "SELECT switch_name, port, site_id, profile, managed, ap_mac, since,
     event_id, switch_mac FROM ports";

fn port_row(row: &tokio_postgres::Row) -> Result<PortRecord, StoreError> {
    let profile: &str = row.col(3)?;
    Ok(PortRecord {
        switch_name: row.col(0)?,
        switch_mac: row.get::<_, Option<&str>>(8).map(mac).transpose()?,
        port: interface(row.col(1)?)?,
        site_id: row.col(2)?,
        profile: Profile::parse(profile)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown profile {profile:?}")))?,
        managed: row.col(4)?,
        ap_mac: row.get::<_, Option<&str>>(5).map(mac).transpose()?,
        since: time(row.col(6)?)?,
        event_id: row.col(7)?,
    })
}

async fn rows_of_port(
    client: &impl GenericClient,
    port: &InterfaceName,
) -> Result<Vec<PortRecord>, StoreError> {
    client
        .query(&format!("{PORT_SELECT} WHERE port = $1"), &[&port.as_str()])
        .await?
        .iter()
        .map(port_row)
        .collect()
}

fn hold_row(row: &tokio_postgres::Row) -> Result<MaintenanceHold, StoreError> {
    Ok(MaintenanceHold {
        site_id: row.col(0)?,
        reason: row.col(1)?,
        actor: row.col(2)?,
        set_at: time(row.col(3)?)?,
        expires_at: row.get::<_, Option<&str>>(4).map(time).transpose()?,
    })
}
