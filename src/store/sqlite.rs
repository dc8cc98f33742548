//! The embedded store: one SQLite file (`mesa.db`, WAL mode) under `server.data_dir`.
//!
//! Calls run on tokio's blocking pool so the async workers never wait on disk. Writes share
//! one connection (SQLite has one writer anyway); reads use their own connection, which WAL
//! lets run alongside the writer, so `/api/v1/events` never queues behind ingest.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{ApRecord, Appended, JournalEntry, PortRecord, Pruned, Store, StoreError};
use crate::maintenance::MaintenanceHold;
use crate::model::{
    same_switch_name, switch_key, ApEvent, Decision, InterfaceName, Mac, Profile, SwitchRef,
};

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// `journal.dedupe_window`.
    dedupe_window: std::time::Duration,
}

/// `journal.dedupe_window` when none is given.
pub const DEDUPE_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

impl SqliteStore {
    /// Opens (or creates) `<data_dir>/mesa.db` and brings its schema up to date.
    pub fn open(data_dir: &Path, fsync: bool) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = data_dir.join("mesa.db");
        let writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // FULL syncs the WAL at every commit: an accepted event survives a power cut.
        // NORMAL still survives a crash of mesa itself.
        writer.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        writer.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&writer)?;
        let reader = Connection::open(&path)?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            dedupe_window: DEDUPE_WINDOW,
        })
    }

    /// Two reports of the same change of one AP (webhook and stream, org- and site-level
    /// webhooks) whose event times are at most `window` apart are one event.
    pub fn with_dedupe_window(mut self, window: std::time::Duration) -> SqliteStore {
        self.dedupe_window = window;
        self
    }

    async fn with<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("connection mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::with(&self.writer, f).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::with(&self.reader, f).await
    }
}

/// Copies the database in `data_dir` (if any) into `dest_dir`, consistent even while
/// another process writes to it: `--dry-run` commands work on the copy and leave the real
/// store as it was.
pub fn copy_database(data_dir: &Path, dest_dir: &Path) -> Result<(), StoreError> {
    let source = data_dir.join("mesa.db");
    if !source.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dest_dir).map_err(|e| StoreError::DataDir {
        path: dest_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let conn = Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let dest = dest_dir.join("mesa.db");
    conn.execute("VACUUM INTO ?1", params![dest.display().to_string()])?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let applied: std::collections::BTreeSet<i64> = conn
        .prepare("SELECT version FROM schema_version")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for migration in super::migrations::ALL {
        let (version, sql) = (migration.version, migration.sqlite);
        if applied.contains(&version) {
            continue;
        }
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad time {text:?}: {e}")))
}

pub(super) fn mac(text: &str) -> Result<Mac, StoreError> {
    Mac::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn interface(text: &str) -> Result<InterfaceName, StoreError> {
    InterfaceName::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn journal_write(
        &self,
        events: &[ApEvent],
        decisions: &[Decision],
    ) -> Result<Vec<Appended>, StoreError> {
        let appends: Vec<(ApEvent, String)> = events
            .iter()
            .map(|e| Ok((e.clone(), json(e)?)))
            .collect::<Result<_, StoreError>>()?;
        let finishes: Vec<(Decision, String)> = decisions
            .iter()
            .map(|d| Ok((d.clone(), json(d)?)))
            .collect::<Result<_, StoreError>>()?;
        let window_ms = i64::try_from(self.dedupe_window.as_millis()).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let mut results = Vec::with_capacity(appends.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO journal (id, dedupe_key, ap_mac, received_at, event, attempts,
                                          subject, kind, source, event_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                )?;
                for (event, body) in &appends {
                    let subject = event.subject().key();
                    if event.source.reports_mist_events()
                        && reported_just_before(&tx, event, &subject, window_ms)?
                    {
                        results.push(Appended::Duplicate);
                        continue;
                    }
                    let inserted = insert.execute(params![
                        event.id,
                        event.dedupe_key(),
                        event.ap_mac.as_str(),
                        event.received_at.to_rfc3339(),
                        body,
                        subject,
                        event.kind.as_str(),
                        event.source.as_str(),
                        event.timestamp.ordering(),
                    ])?;
                    results.push(if inserted == 1 {
                        Appended::New
                    } else {
                        Appended::Duplicate
                    });
                }
                let now = crate::clock::now().to_rfc3339();
                let mut finish = tx.prepare_cached(
                    "UPDATE journal SET state = 'done', finished_at = ?2 WHERE id = ?1",
                )?;
                for (d, body) in &finishes {
                    insert_decision(&tx, d, body)?;
                    finish.execute(params![d.event.id, now])?;
                }
            }
            tx.commit()?;
            Ok(results)
        })
        .await
    }

    async fn journal_pending(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT event, attempts FROM journal WHERE state = 'pending' ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
            let mut entries = Vec::new();
            for row in rows {
                let (body, attempts) = row?;
                entries.push(JournalEntry {
                    event: from_json(&body)?,
                    attempts,
                });
            }
            Ok(entries)
        })
        .await
    }

    async fn journal_attempt(&self, event_id: &str) -> Result<(), StoreError> {
        let id = event_id.to_string();
        self.write(move |conn| {
            conn.execute(
                "UPDATE journal SET attempts = attempts + 1 WHERE id = ?1",
                params![id],
            )?;
            Ok(())
        })
        .await
    }

    async fn journal_newer(&self, event: &ApEvent) -> Result<Option<ApEvent>, StoreError> {
        let (subject, at, id) = (
            event.subject().key(),
            event.timestamp.ordering(),
            event.id.clone(),
        );
        self.read(move |conn| {
            let body = conn
                .query_row(
                    "SELECT event FROM journal
                     WHERE subject = ?1 AND event_ms > ?2
                       AND rowid < (SELECT rowid FROM journal WHERE id = ?3)
                     ORDER BY event_ms DESC, rowid DESC LIMIT 1",
                    params![subject, at, id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?;
            body.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn journal_counts(&self) -> Result<(u64, u64), StoreError> {
        self.read(|conn| {
            let count = |state: &str| -> Result<u64, StoreError> {
                Ok(conn.query_row(
                    "SELECT COUNT(*) FROM journal WHERE state = ?1",
                    params![state],
                    |r| r.get::<_, i64>(0),
                )? as u64)
            };
            Ok((count("pending")?, count("done")?))
        })
        .await
    }

    async fn record_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let body = json(decision)?;
        let d = decision.clone();
        self.write(move |conn| insert_decision(conn, &d, &body))
            .await
    }

    async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare("SELECT body FROM decisions ORDER BY seq DESC LIMIT ?1")?;
            let rows = stmt.query_map(params![limit], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(from_json(&row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn ap(&self, ap_mac: &Mac) -> Result<Option<ApRecord>, StoreError> {
        let key = ap_mac.to_string();
        self.read(move |conn| {
            let row = conn
                .query_row(
                    "SELECT mac, name, site_id, switch_name, switch_mac, port, last_event, last_seen
                     FROM aps WHERE mac = ?1",
                    params![key],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, String>(7)?,
                        ))
                    },
                )
                .optional()?;
            row.map(
                |(m, name, site_id, switch_name, switch_mac, port, last_event, last_seen)| {
                    Ok(ApRecord {
                        mac: mac(&m)?,
                        name,
                        site_id,
                        switch_name,
                        switch_mac: switch_mac.as_deref().map(mac).transpose()?,
                        port: interface(&port)?,
                        last_event,
                        last_seen: time(&last_seen)?,
                    })
                },
            )
            .transpose()
        })
        .await
    }

    async fn upsert_ap(&self, ap: &ApRecord) -> Result<(), StoreError> {
        let ap = ap.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO aps (mac, name, site_id, switch_name, switch_mac, port, last_event, last_seen, switch_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (mac) DO UPDATE SET name = excluded.name, site_id = excluded.site_id,
                   switch_name = excluded.switch_name, switch_mac = excluded.switch_mac,
                   port = excluded.port, last_event = excluded.last_event, last_seen = excluded.last_seen,
                   switch_key = excluded.switch_key",
                params![
                    ap.mac.as_str(),
                    ap.name,
                    ap.site_id,
                    ap.switch_name,
                    ap.switch_mac.as_ref().map(|m| m.to_string()),
                    ap.port.as_str(),
                    ap.last_event,
                    ap.last_seen.to_rfc3339(),
                    switch_key(ap.switch_mac.as_ref(), &ap.switch_name),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn port(
        &self,
        switch: &SwitchRef,
        port: &InterfaceName,
    ) -> Result<Option<PortRecord>, StoreError> {
        let (switch, port) = (switch.clone(), port.clone());
        self.read(move |conn| {
            let rows = rows_of_port(conn, &port)?;
            Ok(pick_port(rows, &switch))
        })
        .await
    }

    async fn upsert_port(&self, port: &PortRecord) -> Result<(), StoreError> {
        let p = port.clone();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let key = switch_key(p.switch_mac.as_ref(), &p.switch_name);
            if p.switch_mac.is_some() {
                // The switch's MAC is known now: a row recorded under its name alone is
                // the same port and takes the MAC key from here on.
                let switch = SwitchRef {
                    name: p.switch_name.clone(),
                    site_id: p.site_id.clone(),
                    mac: None,
                    mgmt_addr: None,
                };
                for old in rows_of_port(&tx, &p.port)? {
                    if old.switch_mac.is_none() && named_alike(&old, &switch) {
                        tx.execute(
                            "DELETE FROM ports WHERE switch_key = ?1 AND port = ?2",
                            params![switch_key(None, &old.switch_name), old.port.as_str()],
                        )?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO ports (switch_key, switch_name, switch_mac, port, site_id, profile,
                                    managed, ap_mac, since, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (switch_key, port) DO UPDATE SET switch_name = excluded.switch_name,
                   switch_mac = excluded.switch_mac, site_id = excluded.site_id,
                   profile = excluded.profile, managed = excluded.managed, ap_mac = excluded.ap_mac,
                   since = excluded.since, event_id = excluded.event_id",
                params![
                    key,
                    p.switch_name,
                    p.switch_mac.as_ref().map(|m| m.to_string()),
                    p.port.as_str(),
                    p.site_id,
                    p.profile.as_str(),
                    p.managed,
                    p.ap_mac.as_ref().map(|m| m.to_string()),
                    p.since.to_rfc3339(),
                    p.event_id
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn ports(&self) -> Result<Vec<PortRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{PORT_SELECT} ORDER BY switch_name, port"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(port_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    async fn journal_resume(&self, event_ids: &[String]) -> Result<(), StoreError> {
        self.update_attempts(
            event_ids,
            "UPDATE journal SET attempts = attempts + 1 WHERE id = ?1 AND state = 'pending'",
        )
        .await
    }

    async fn journal_release(&self, event_ids: &[String]) -> Result<(), StoreError> {
        self.update_attempts(
            event_ids,
            "UPDATE journal SET attempts = MAX(attempts - 1, 0) WHERE id = ?1 AND state = 'pending'",
        )
        .await
    }

    async fn journal_park(&self, decision: &Decision) -> Result<(), StoreError> {
        let body = json(decision)?;
        let d = decision.clone();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            insert_decision(&tx, &d, &body)?;
            tx.execute(
                "UPDATE journal SET state = 'failed', finished_at = ?2 WHERE id = ?1",
                params![d.event.id, crate::clock::now().to_rfc3339()],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn prune(&self, before: DateTime<Utc>, chunk: u32) -> Result<Pruned, StoreError> {
        // Same text form as stored (`to_rfc3339`, UTC): comparable as strings.
        let cutoff = before.to_rfc3339();
        let mut pruned = Pruned::default();
        for (table, sql) in [
            (
                0,
                "DELETE FROM journal WHERE rowid IN (SELECT rowid FROM journal
                 WHERE state IN ('done', 'failed') AND finished_at < ?1 LIMIT ?2)",
            ),
            (
                1,
                "DELETE FROM decisions WHERE seq IN (SELECT seq FROM decisions
                 WHERE decided_at < ?1 LIMIT ?2)",
            ),
        ] {
            loop {
                let cutoff = cutoff.clone();
                let removed = self
                    .write(move |conn| Ok(conn.execute(sql, params![cutoff, chunk])? as u64))
                    .await?;
                if table == 0 {
                    pruned.journal += removed;
                } else {
                    pruned.decisions += removed;
                }
                if removed < u64::from(chunk.max(1)) {
                    break;
                }
            }
        }
        Ok(pruned)
    }

    async fn set_maintenance_hold(&self, hold: &MaintenanceHold) -> Result<(), StoreError> {
        let h = hold.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO maintenance_holds (site_id, reason, actor, set_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (site_id) DO UPDATE SET reason = ?2, actor = ?3, set_at = ?4,
                 expires_at = ?5",
                params![
                    h.site_id,
                    h.reason,
                    h.actor,
                    h.set_at.to_rfc3339(),
                    h.expires_at.map(|t| t.to_rfc3339())
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn release_maintenance_hold(
        &self,
        site_id: &str,
    ) -> Result<Option<MaintenanceHold>, StoreError> {
        let site = site_id.to_string();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let hold = select_holds(&tx, Some(&site))?.pop();
            tx.execute(
                "DELETE FROM maintenance_holds WHERE site_id = ?1",
                params![site],
            )?;
            tx.commit()?;
            Ok(hold)
        })
        .await
    }

    async fn maintenance_hold(&self, site_id: &str) -> Result<Option<MaintenanceHold>, StoreError> {
        let site = site_id.to_string();
        self.read(move |conn| Ok(select_holds(conn, Some(&site))?.pop()))
            .await
    }

    async fn maintenance_holds(&self) -> Result<Vec<MaintenanceHold>, StoreError> {
        self.read(|conn| select_holds(conn, None)).await
    }

    async fn expire_maintenance_holds(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceHold>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let expired: Vec<MaintenanceHold> = select_holds(&tx, None)?
                .into_iter()
                .filter(|h| !h.is_active(now))
                .collect();
            for hold in &expired {
                tx.execute(
                    "DELETE FROM maintenance_holds WHERE site_id = ?1",
                    params![hold.site_id],
                )?;
            }
            tx.commit()?;
            Ok(expired)
        })
        .await
    }
}

/// Holds of one site (`Some`) or all of them, by site id.
fn select_holds(conn: &Connection, site: Option<&str>) -> Result<Vec<MaintenanceHold>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT site_id, reason, actor, set_at, expires_at FROM maintenance_holds
         WHERE ?1 IS NULL OR site_id = ?1 ORDER BY site_id",
    )?;
    let rows = stmt.query_map(params![site], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut holds = Vec::new();
    for row in rows {
        let (site_id, reason, actor, set_at, expires_at) = row?;
        holds.push(MaintenanceHold {
            site_id,
            reason,
            actor,
            set_at: time(&set_at)?,
            expires_at: expires_at.as_deref().map(time).transpose()?,
        });
    }
    Ok(holds)
}

impl SqliteStore {
    async fn update_attempts(
        &self,
        event_ids: &[String],
        sql: &'static str,
    ) -> Result<(), StoreError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let ids = event_ids.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut update = tx.prepare_cached(sql)?;
                for id in &ids {
                    update.execute(params![id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

/// True when the latest journaled event of `subject` (by event time) came from a source
/// relaying Mist's events too, is of the same kind, and happened within `window_ms` of
/// `event`: the same change, reported twice. A different kind in between (connect,
/// disconnect, connect within a second) is a new change.
fn reported_just_before(
    conn: &Connection,
    event: &ApEvent,
    subject: &str,
    window_ms: i64,
) -> Result<bool, StoreError> {
    let latest = conn
        .prepare_cached(
            "SELECT kind, source, event_ms FROM journal WHERE subject = ?1
             ORDER BY event_ms DESC, rowid DESC LIMIT 1",
        )?
        .query_row(params![subject], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()?;
    let Some((Some(kind), Some(source), Some(at))) = latest else {
        return Ok(false);
    };
    let relays_mist =
        serde_json::from_value::<crate::model::Source>(serde_json::Value::String(source))
            .is_ok_and(|s| s.reports_mist_events());
    Ok(relays_mist
        && kind == event.kind.as_str()
        && (event.timestamp.ordering() - at).abs() <= window_ms)
}

fn insert_decision(conn: &Connection, d: &Decision, body: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO decisions (event_id, ap_mac, site_id, kind, outcome, decided_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        d.event.id,
        d.event.ap_mac.as_str(),
        d.event.site_id,
        d.event.kind.as_str(),
        d.outcome.label(),
        d.decided_at.to_rfc3339(),
        body
    ])?;
    Ok(())
}

const PORT_SELECT: &str =
    "SELECT switch_name, port, site_id, profile, managed, ap_mac, since, event_id, switch_mac FROM ports";

fn port_row(row: &rusqlite::Row<'_>) -> Result<PortRecord, StoreError> {
    let profile: String = row.get(3)?;
    Ok(PortRecord {
        switch_name: row.get(0)?,
        switch_mac: row
            .get::<_, Option<String>>(8)?
            .as_deref()
            .map(mac)
            .transpose()?,
        port: interface(&row.get::<_, String>(1)?)?,
        site_id: row.get(2)?,
        profile: Profile::parse(&profile)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown profile {profile:?}")))?,
        managed: row.get(4)?,
        ap_mac: row
            .get::<_, Option<String>>(5)?
            .as_deref()
            .map(mac)
            .transpose()?,
        since: time(&row.get::<_, String>(6)?)?,
        event_id: row.get(7)?,
    })
}

/// Every record of an interface name, across switches (a handful: one per switch at most).
fn rows_of_port(conn: &Connection, port: &InterfaceName) -> Result<Vec<PortRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{PORT_SELECT} WHERE port = ?1"))?;
    let mut rows = stmt.query(params![port.as_str()])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(port_row(row)?);
    }
    Ok(out)
}

/// Same name (FQDN-tolerant) and, when both say, the same site: two sites may each have an
/// `sw1`.
pub(super) fn named_alike(record: &PortRecord, switch: &SwitchRef) -> bool {
    same_switch_name(&record.switch_name, &switch.name)
        && (switch.site_id.is_empty()
            || record.site_id.is_empty()
            || record.site_id == switch.site_id)
}

/// The row for `switch` among the rows of one interface name: the MAC row; else a row
/// recorded by name only; else, when the switch's MAC is unknown here, a row of the same name.
/// Exact names before first labels.
pub(super) fn pick_port(rows: Vec<PortRecord>, switch: &SwitchRef) -> Option<PortRecord> {
    if let Some(mac) = &switch.mac {
        if let Some(row) = rows.iter().find(|r| r.switch_mac.as_ref() == Some(mac)) {
            return Some(row.clone());
        }
    }
    let candidates = rows
        .into_iter()
        .filter(|r| (switch.mac.is_none() || r.switch_mac.is_none()) && named_alike(r, switch));
    let (exact, other): (Vec<_>, Vec<_>) = candidates.partition(|r| {
        r.switch_name
            .trim()
            .eq_ignore_ascii_case(switch.name.trim())
    });
    exact.into_iter().chain(other).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, Source};

    fn event(id: &str, ts: i64) -> ApEvent {
        ApEvent {
            id: id.into(),
            kind: EventKind::ApConnected,
            ap_mac: Mac::parse("5c5b35000001").unwrap(),
            ap_name: Some("ap-1".into()),
            org_id: None,
            site_id: "site-1".into(),
            site_name: None,
            // `ts` in steps of ten minutes: events of different `ts` are changes of their
            // own, not copies within `journal.dedupe_window`.
            timestamp: crate::model::EventTime::from_secs(ts * 600),
            source: Source::Webhook,
            received_at: crate::clock::now(),
            known_port: None,
        }
    }

    fn switch(name: &str, switch_mac: Option<&str>, site: &str) -> SwitchRef {
        SwitchRef {
            name: name.into(),
            site_id: site.into(),
            mac: switch_mac.map(|m| Mac::parse(m).unwrap()),
            mgmt_addr: None,
        }
    }

    /// Version 1 databases keep working: port rows learn their switch MAC from the APs.
    #[tokio::test]
    async fn migration_2_keys_existing_ports_by_mac() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("mesa.db")).unwrap();
            conn.execute_batch(super::super::migrations::sqlite(1))
                .unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (1);
                 INSERT INTO aps VALUES ('5c5b35000001', 'ap', 's', 'sw1', 'd420b0000001',
                   'ge-0/0/3', 'AP_CONNECTED', '2026-01-01T00:00:00+00:00');
                 INSERT INTO ports VALUES ('sw1', 'ge-0/0/3', 's', 'ap', 1, '5c5b35000001',
                   '2026-01-01T00:00:00+00:00', 'e1');
                 INSERT INTO ports VALUES ('sw9', 'ge-0/0/3', 's', 'ap', 1, '5c5b35000009',
                   '2026-01-01T00:00:00+00:00', 'e2');
                 INSERT INTO journal (id, dedupe_key, ap_mac, received_at, event) VALUES
                   ('e1', 'k1', '5c5b35000001', '2026-01-01T00:00:00+00:00',
                    '{\"kind\":\"AP_CONNECTED\",\"source\":\"webhook\",\"timestamp\":1700000000}');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path(), false).unwrap();
        let port = InterfaceName::parse("ge-0/0/3").unwrap();
        let by_mac = store
            .port(
                &switch("sw1.campus.example", Some("d420b0000001"), "s"),
                &port,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_mac.switch_mac, Mac::parse("d420b0000001").ok());
        let by_name = store
            .port(&SwitchRef::named("sw9"), &port)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_name.switch_mac, None);
        let conn = store.reader.lock().unwrap();
        let (subject, ms): (String, i64) = conn
            .query_row("SELECT subject, event_ms FROM journal", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((subject.as_str(), ms), ("5c5b35000001", 1_700_000_000_999));
    }

    fn decision_for(event: ApEvent, decided_at: DateTime<Utc>) -> Decision {
        Decision {
            event,
            lookups: vec![],
            verdicts: vec![],
            changes: vec![],
            outcome: crate::model::Outcome::Applied,
            diff: None,
            backend: "dry-run".into(),
            decided_at,
            duration_ms: 1,
            will_retry: false,
        }
    }

    #[tokio::test]
    async fn prune_removes_only_old_finished_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), false).unwrap();
        let old = crate::clock::now() - chrono::Duration::days(100);
        let events: Vec<ApEvent> = (0..7).map(|i| event(&format!("e{i}"), i)).collect();
        store.journal_write(&events, &[]).await.unwrap();
        // e0..e4 finished 100 days ago, e5 finished now, e6 still pending.
        let decisions: Vec<Decision> = events[..6]
            .iter()
            .enumerate()
            .map(|(i, e)| decision_for(e.clone(), if i < 5 { old } else { crate::clock::now() }))
            .collect();
        store.journal_write(&[], &decisions).await.unwrap();
        {
            let conn = store.writer.lock().unwrap();
            conn.execute(
                "UPDATE journal SET finished_at = ?1 WHERE id IN ('e0','e1','e2','e3','e4')",
                params![old.to_rfc3339()],
            )
            .unwrap();
        }
        let cutoff = crate::clock::now() - chrono::Duration::days(90);
        let pruned = store.prune(cutoff, 2).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                journal: 5,
                decisions: 5
            }
        );
        assert_eq!(store.journal_counts().await.unwrap(), (1, 1));
        assert_eq!(store.recent_decisions(10).await.unwrap().len(), 1);
        assert_eq!(store.prune(cutoff, 2).await.unwrap(), Pruned::default());
    }

    /// The store's behaviour, for both stores: tests/store.rs.
    #[test]
    fn numbered_migration_applies_on_a_version_1_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mesa.db");
        {
            // A database written by a mesa that knew version 1 only.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (1);",
            )
            .unwrap();
            conn.execute_batch(super::super::migrations::sqlite(1))
                .unwrap();
            // Version 1 counted transient retries here: not a sign of poison.
            conn.execute(
                "INSERT INTO journal (id, dedupe_key, ap_mac, received_at, event, attempts)
                 VALUES ('old', 'k', '5c5b35000001', '2026-01-01T00:00:00+00:00', '{}', 6)",
                [],
            )
            .unwrap();
        }
        drop(SqliteStore::open(dir.path(), false).unwrap());
        let conn = Connection::open(&path).unwrap();
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM schema_version ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            versions.contains(&1) && versions.contains(&3),
            "{versions:?}"
        );
        let index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'decisions_decided_at'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
        let attempts: i64 = conn
            .query_row("SELECT attempts FROM journal WHERE id = 'old'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(attempts, 0);
        // Opening again applies nothing twice.
        drop(conn);
        drop(SqliteStore::open(dir.path(), false).unwrap());
    }
}
