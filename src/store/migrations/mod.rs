//! The schema of both stores, in one ordered list of versions. Each [`Migration`] carries
//! its SQLite and its PostgreSQL text; a version applies when its number is not recorded in
//! `schema_version` yet, whatever numbers around it exist (versions added on parallel
//! branches never depend on one they do not name).
//!
//! PostgreSQL support began at version 4: its version 1 creates the tables as SQLite has
//! them after version 4, and its texts for 2 to 4 are empty (recorded, nothing to do).

/// One schema version, in both dialects (an empty text: nothing to do in that dialect).
pub struct Migration {
    pub version: i64,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every version, in order.
pub const ALL: &[Migration] = &[
    // 1: journal, APs, ports, audit log.
    Migration {
        version: 1,
        sqlite: "CREATE TABLE journal (
        id TEXT PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        ap_mac TEXT NOT NULL,
        received_at TEXT NOT NULL,
        event TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        finished_at TEXT
    );
    CREATE INDEX journal_state ON journal (state);
    CREATE TABLE aps (
        mac TEXT PRIMARY KEY,
        name TEXT,
        site_id TEXT NOT NULL,
        switch_name TEXT NOT NULL,
        switch_mac TEXT,
        port TEXT NOT NULL,
        last_event TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE TABLE ports (
        switch_name TEXT NOT NULL,
        port TEXT NOT NULL,
        site_id TEXT NOT NULL,
        profile TEXT NOT NULL,
        managed INTEGER NOT NULL,
        ap_mac TEXT,
        since TEXT NOT NULL,
        event_id TEXT,
        PRIMARY KEY (switch_name, port)
    );
    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        ap_mac TEXT NOT NULL,
        site_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX decisions_event ON decisions (event_id);",
        postgres: POSTGRES_V1,
    },
    // 2: a switch is its MAC. Ports are keyed by (switch key, port), the key being the
    // switch MAC where known, else the lowercased name; a port row learns its switch's MAC
    // from an AP record of the same switch name. APs carry the same key. Journal rows carry
    // their subject (AP, or port for events about a port alone), kind, source and event
    // time (ms), for ordering and duplicate detection by content.
    Migration {
        version: 2,
        sqlite: "CREATE TABLE ports_v2 (
        switch_key TEXT NOT NULL,
        switch_name TEXT NOT NULL,
        switch_mac TEXT,
        port TEXT NOT NULL,
        site_id TEXT NOT NULL,
        profile TEXT NOT NULL,
        managed INTEGER NOT NULL,
        ap_mac TEXT,
        since TEXT NOT NULL,
        event_id TEXT,
        PRIMARY KEY (switch_key, port)
    );
    INSERT INTO ports_v2 (switch_key, switch_name, switch_mac, port, site_id, profile, managed,
                          ap_mac, since, event_id)
    SELECT COALESCE(m.mac, lower(trim(p.switch_name))), p.switch_name, m.mac, p.port, p.site_id,
           p.profile, p.managed, p.ap_mac, p.since, p.event_id
    FROM ports p
    LEFT JOIN (SELECT switch_name, MAX(switch_mac) AS mac FROM aps
               WHERE switch_mac IS NOT NULL GROUP BY switch_name) m
      ON m.switch_name = p.switch_name
    WHERE true
    ORDER BY p.since
    ON CONFLICT (switch_key, port) DO UPDATE SET switch_name = excluded.switch_name,
      site_id = excluded.site_id, profile = excluded.profile, managed = excluded.managed,
      ap_mac = excluded.ap_mac, since = excluded.since, event_id = excluded.event_id;
    DROP TABLE ports;
    ALTER TABLE ports_v2 RENAME TO ports;
    ALTER TABLE aps ADD COLUMN switch_key TEXT;
    UPDATE aps SET switch_key = COALESCE(switch_mac, lower(trim(switch_name)));
    ALTER TABLE journal ADD COLUMN subject TEXT;
    ALTER TABLE journal ADD COLUMN kind TEXT;
    ALTER TABLE journal ADD COLUMN source TEXT;
    ALTER TABLE journal ADD COLUMN event_ms INTEGER; -- ordering time, see EventTime::ordering
    UPDATE journal SET subject = ap_mac,
      kind = json_extract(event, '$.kind'),
      source = json_extract(event, '$.source'),
      event_ms = CASE WHEN json_extract(event, '$.timestamp') > 100000000000
                      THEN json_extract(event, '$.timestamp')
                      ELSE CAST(json_extract(event, '$.timestamp') * 1000 AS INTEGER) + 999 END;
    CREATE INDEX journal_subject ON journal (subject, event_ms);",
        postgres: "",
    },
    // 3: indexes for the retention prune (`store.retention`); `attempts` now counts runs that
    // never finished (it counted transient retries before), so pending rows start afresh
    // rather than being parked as poison at the upgrade.
    Migration {
        version: 3,
        sqlite: "CREATE INDEX IF NOT EXISTS decisions_decided_at ON decisions (decided_at);
         CREATE INDEX IF NOT EXISTS journal_finished_at ON journal (state, finished_at);
         UPDATE journal SET attempts = 0 WHERE state = 'pending';",
        postgres: "",
    },
    // 4: maintenance holds, one per site (`mesa hold`, chat `hold`).
    Migration {
        version: 4,
        sqlite: "CREATE TABLE IF NOT EXISTS maintenance_holds (
            site_id TEXT PRIMARY KEY,
            reason TEXT,
            actor TEXT NOT NULL,
            set_at TEXT NOT NULL,
            expires_at TEXT
        );",
        postgres: "",
    },
    // 5: several instances share a PostgreSQL store. A journal row is worked on by the
    // instance that holds its lease (`owner` until `lease_until`, renewed by a heartbeat);
    // `leases` holds the named ones: one writer per switch, the singletons (reconcile, the
    // WebSocket stream). SQLite serves one instance: nothing to share.
    Migration {
        version: 5,
        sqlite: "",
        postgres: "ALTER TABLE journal ADD COLUMN owner TEXT;
            ALTER TABLE journal ADD COLUMN lease_until TIMESTAMPTZ;
            CREATE INDEX journal_pending_seq ON journal (seq) WHERE state = 'pending';
            CREATE TABLE leases (
                name TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                until TIMESTAMPTZ NOT NULL
            );",
    },
];

/// The text of `version` for SQLite (tests build old databases with it).
pub fn sqlite(version: i64) -> &'static str {
    ALL.iter()
        .find(|m| m.version == version)
        .map_or("", |m| m.sqlite)
}

/// PostgreSQL's first version: the tables as SQLite has them after version 4. Times are
/// RFC 3339 text as in SQLite (the same comparisons and parsing); `seq` gives the journal
/// the arrival order SQLite's rowid gives.
const POSTGRES_V1: &str = "CREATE TABLE journal (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        dedupe_key TEXT NOT NULL UNIQUE,
        ap_mac TEXT NOT NULL,
        received_at TEXT NOT NULL,
        event TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        finished_at TEXT,
        subject TEXT,
        kind TEXT,
        source TEXT,
        event_ms BIGINT
    );
    CREATE INDEX journal_state ON journal (state);
    CREATE INDEX journal_subject ON journal (subject, event_ms);
    CREATE INDEX journal_finished_at ON journal (state, finished_at);
    CREATE TABLE aps (
        mac TEXT PRIMARY KEY,
        name TEXT,
        site_id TEXT NOT NULL,
        switch_name TEXT NOT NULL,
        switch_mac TEXT,
        port TEXT NOT NULL,
        last_event TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        switch_key TEXT
    );
    CREATE TABLE ports (
        switch_key TEXT NOT NULL,
        switch_name TEXT NOT NULL,
        switch_mac TEXT,
        port TEXT NOT NULL,
        site_id TEXT NOT NULL,
        profile TEXT NOT NULL,
        managed BOOLEAN NOT NULL,
        ap_mac TEXT,
        since TEXT NOT NULL,
        event_id TEXT,
        PRIMARY KEY (switch_key, port)
    );
    CREATE TABLE decisions (
        seq BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL,
        ap_mac TEXT NOT NULL,
        site_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX decisions_event ON decisions (event_id);
    CREATE INDEX decisions_decided_at ON decisions (decided_at);
    CREATE TABLE maintenance_holds (
        site_id TEXT PRIMARY KEY,
        reason TEXT,
        actor TEXT NOT NULL,
        set_at TEXT NOT NULL,
        expires_at TEXT
    );";
