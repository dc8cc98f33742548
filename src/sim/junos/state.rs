//! The state directory shared by every session of one simulated switch.
//!
//! Each SSH session is its own process, so everything shared (running and candidate
//! configuration, lock, pending confirmed commit, sessions, faults, commit log) lives in files,
//! and every access is a transaction under an exclusive file lock. Time-based work (rolling
//! back an unconfirmed commit, releasing the lock of a session whose process died) happens
//! lazily at the start of each transaction, so it takes effect even when no session is left.
//!
//! Files: `state.json` (see [`State`]), `faults.json` ([`Faults`]), `commits.jsonl` (one
//! [`CommitLogEntry`] per line, append-only), `lock` (the file lock).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::Config;

/// Rollback configurations kept (Junos keeps 50, rollback 0..49).
const HISTORY: usize = 49;

/// Environment variable: seconds in one confirmed-commit "minute" (tests use 1).
pub const MINUTE_SECS_ENV: &str = "MESA_JUNOS_SIM_MINUTE_SECS";

/// Misbehaviours to inject, read by every session at every RPC. Counters count down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Every commit (and commit check) sleeps this long first, like a slow EX.
    pub commit_delay_ms: u64,
    /// `commit check` sleeps this long instead of `commit_delay_ms`, for a check that answers
    /// in time while the commit after it does not.
    pub commit_check_delay_ms: Option<u64>,
    /// The next commits fail with an `xnm:error` in `<commit-results>`.
    pub commit_error: Option<CommitErrorFault>,
    /// The next N commits are applied, then the session process exits without replying.
    pub drop_during_commit: u32,
    /// EX3400 quirk: after a commit, `unlock` answers rpc-error (the lock is released anyway).
    pub unlock_error_after_commit: bool,
    /// The server hello announces base:1.0 only.
    pub base10_only: bool,
    /// Loaded lines containing this substring are rejected with `reject_message`.
    pub reject_line_containing: Option<String>,
    pub reject_message: Option<String>,
    /// Seconds in one confirm-timeout "minute" (overrides [`MINUTE_SECS_ENV`]).
    pub minute_secs: Option<u64>,
    /// Keep a confirmed commit pending when the session that made it ends. Junos restores
    /// the configuration at once instead ("Terminate a NETCONF Session"); this is for the
    /// platforms and simulators that keep it, so mesa's recovery of them stays tested.
    pub keep_pending_on_session_end: bool,
    /// `get-commit-information` as Junos 23.1+ answers it: the pending entry carries a
    /// `<commit-confirmed/>` leaf. Without it, only the entry's comment says "commit
    /// confirmed, rollback in N mins", and that comment stays after the confirmation.
    pub commit_confirmed_leaf: bool,
    /// The next N commits are applied, then answered with an `<rpc-error>`, as a Virtual
    /// Chassis or dual-RE switch can after a commit that succeeded on the master.
    pub rpc_error_after_commit: u32,
}

/// A commit error to return, shaped like `get-rpc-error.xml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitErrorFault {
    pub message: String,
    /// `[edit interfaces ge-0/0/1]`; printed with `source-daemon` `dcd` and `statement`.
    pub edit_path: Option<String>,
    pub statement: Option<String>,
    /// How many commits still fail; `commit check` reports the error without counting.
    pub remaining: u32,
}

/// A process, identified beyond its pid (its start time) so that a recycled pid does not
/// keep a dead session's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: u32,
    pub start: u64,
}

impl ProcId {
    pub fn current() -> ProcId {
        let pid = std::process::id();
        ProcId {
            pid,
            start: proc_start(pid).unwrap_or(0),
        }
    }

    /// Alive and not a zombie; true where `/proc` cannot tell.
    pub fn alive(&self) -> bool {
        if !Path::new("/proc/self/stat").exists() {
            return true;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first().copied().unwrap_or("X");
        let start = fields
            .get(19)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        !matches!(state, "Z" | "X" | "x") && (self.start == 0 || start == self.start)
    }
}

fn proc_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Who holds the exclusive configuration lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub session: u32,
    pub process: ProcId,
    pub user: String,
    /// Unix seconds.
    pub since: i64,
    /// Unix seconds of the holder's last RPC (Junos shows it as `idle`).
    pub last_active: i64,
}

/// A confirmed commit waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirm {
    /// Unix milliseconds after which running rolls back.
    pub deadline_ms: i64,
    pub rollback_to: Config,
    pub session: u32,
    pub user: String,
    pub minutes: u32,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub process: ProcId,
    pub user: String,
    pub since: i64,
}

/// Everything shared between sessions except faults and the commit log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub running: Config,
    pub candidate: Config,
    /// Previous running configurations, newest first: `rollback 1` is `history[0]`.
    pub history: Vec<Config>,
    /// Sessions whose uncommitted changes are in the shared candidate.
    pub modified_by: Vec<u32>,
    pub lock: Option<LockHolder>,
    pub pending: Option<PendingConfirm>,
    pub sessions: BTreeMap<u32, SessionInfo>,
    pub next_session: u32,
    /// Sessions ended by `<kill-session>` that have not noticed yet.
    pub killed: Vec<u32>,
    /// `<lock>` requests refused because another session held the lock: the lock log
    /// tests read (two mesa instances must never collide on one switch).
    pub lock_refusals: Vec<LockRefusal>,
}

/// One refused `<lock>`: who asked, who held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRefusal {
    pub session: u32,
    pub holder: u32,
    pub time: i64,
}

impl State {
    /// `rollback N`: 0 is running.
    pub fn rollback(&self, n: usize) -> Option<&Config> {
        if n == 0 {
            Some(&self.running)
        } else {
            self.history.get(n - 1)
        }
    }

    /// Makes `config` the running configuration, keeping the previous one as rollback 1.
    pub fn install(&mut self, config: Config) {
        let old = std::mem::replace(&mut self.running, config);
        self.history.insert(0, old);
        self.history.truncate(HISTORY);
    }

    /// The uncommitted changes in the candidate belong to someone other than `session`.
    pub fn modified_by_other(&self, session: u32) -> bool {
        !self.candidate.same_as(&self.running) && self.modified_by.iter().any(|&s| s != session)
    }

    /// The lock holder lets go (unlock, end of session, killed, process gone): as on Junos,
    /// the uncommitted changes made under an exclusive lock are discarded with it ("If the
    /// NETCONF session ends or the application emits the <unlock> tag element before the
    /// candidate configuration is committed, all changes made to the candidate are
    /// discarded", Junos `<lock>` reference). Nobody else can have changed the candidate
    /// meanwhile: `lock` is refused while it holds someone else's changes, and loads are
    /// refused while it is locked.
    pub fn release_lock(&mut self) {
        self.lock = None;
        self.candidate = self.running.clone();
        self.modified_by.clear();
    }

    /// The lock holder, unless it is `session` itself.
    pub fn locked_by_other(&self, session: u32) -> Option<&LockHolder> {
        self.lock.as_ref().filter(|l| l.session != session)
    }
}

/// One line of `commits.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitLogEntry {
    /// RFC 3339, UTC.
    pub time: String,
    pub session: u32,
    pub user: String,
    /// `commit`, or `rollback` for the automatic rollback of an unconfirmed commit.
    pub kind: String,
    /// The `<log>` text of the commit.
    pub log: Option<String>,
    pub confirmed: bool,
    pub confirm_minutes: Option<u32>,
    pub lines_added: usize,
    pub lines_removed: usize,
}

/// What a transaction sees and may change.
pub struct Txn {
    pub state: State,
    pub faults: Faults,
    pub faults_changed: bool,
    pub log: Vec<CommitLogEntry>,
}

pub fn now_ms() -> i64 {
    crate::clock::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Txn {
    /// Applies time-based changes: dead sessions, expired confirmed commits.
    fn settle(&mut self) -> bool {
        let dead: Vec<u32> = self
            .state
            .sessions
            .iter()
            .filter(|(_, s)| !s.process.alive())
            .map(|(id, _)| *id)
            .collect();
        self.state.sessions.retain(|_, s| s.process.alive());
        if let Some(lock) = &self.state.lock {
            if !lock.process.alive() {
                self.state.release_lock();
            }
        }
        let live: Vec<u32> = self.state.sessions.keys().copied().collect();
        self.state.killed.retain(|s| live.contains(s));
        // A session process that died (kill -9 of the sim) ended its session too.
        let mut rolled_back = false;
        for id in dead {
            rolled_back |= self.session_ended(id);
        }
        let now = now_ms();
        match self.state.pending.take() {
            Some(p) if now >= p.deadline_ms => {
                let why = format!(
                    "automatic rollback: commit confirmed not confirmed within {} minute(s)",
                    p.minutes
                );
                self.roll_back(p, why);
                true
            }
            other => {
                self.state.pending = other;
                rolled_back
            }
        }
    }

    /// Session `id` ended (closed, dropped, killed, process gone). A confirmed commit it made
    /// and left pending is rolled back at once, as Junos does ("Terminate a NETCONF Session");
    /// true when that happened.
    pub fn session_ended(&mut self, id: u32) -> bool {
        if self.faults.keep_pending_on_session_end {
            return false;
        }
        match self.state.pending.take() {
            Some(p) if p.session == id => {
                self.roll_back(
                    p,
                    format!(
                        "automatic rollback: session {id} ended with its commit confirmed pending"
                    ),
                );
                true
            }
            other => {
                self.state.pending = other;
                false
            }
        }
    }

    fn roll_back(&mut self, p: PendingConfirm, why: String) {
        let now = now_ms();
        let (added, removed) = p.rollback_to.changes_from(&self.state.running);
        self.state.install(p.rollback_to.clone());
        self.state.candidate = p.rollback_to;
        self.state.modified_by.clear();
        self.log.push(CommitLogEntry {
            time: rfc3339(now),
            session: p.session,
            user: p.user,
            kind: "rollback".to_string(),
            log: Some(why),
            confirmed: false,
            confirm_minutes: None,
            lines_added: added,
            lines_removed: removed,
        });
    }

    /// Records a commit done now.
    pub fn log_commit(&mut self, entry: CommitLogEntry) {
        self.log.push(entry);
    }

    pub fn now_rfc3339() -> String {
        rfc3339(now_ms())
    }

    /// Milliseconds in one confirm-timeout minute.
    pub fn minute_ms(&self) -> i64 {
        let secs = self.faults.minute_secs.or_else(|| {
            std::env::var(MINUTE_SECS_ENV)
                .ok()
                .and_then(|v| v.trim().parse().ok())
        });
        secs.map_or(60_000, |s: u64| {
            i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
        })
    }
}

/// The directory holding one simulated switch.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl StateDir {
    /// Opens (creating if needed) a state directory.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<StateDir> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let sd = StateDir { dir };
        sd.transact(|_| ())?;
        Ok(sd)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` on the state under the directory's exclusive lock, then saves.
    pub fn transact<T>(&self, f: impl FnOnce(&mut Txn) -> T) -> io::Result<T> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        lock.lock()?;
        let state = match fs::read(self.dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(invalid)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State {
                next_session: 1001,
                ..State::default()
            },
            Err(e) => return Err(e),
        };
        let faults = match fs::read(self.dir.join("faults.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(invalid)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Faults::default(),
            Err(e) => return Err(e),
        };
        let mut txn = Txn {
            state,
            faults,
            faults_changed: false,
            log: Vec::new(),
        };
        txn.settle();
        let out = f(&mut txn);
        self.write_atomic(
            "state.json",
            &serde_json::to_vec_pretty(&txn.state).map_err(invalid)?,
        )?;
        if txn.faults_changed {
            self.write_atomic(
                "faults.json",
                &serde_json::to_vec_pretty(&txn.faults).map_err(invalid)?,
            )?;
        }
        if !txn.log.is_empty() {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("commits.jsonl"))?;
            let mut text = String::new();
            for entry in &txn.log {
                text.push_str(&serde_json::to_string(entry).map_err(invalid)?);
                text.push('\n');
            }
            file.write_all(text.as_bytes())?;
        }
        drop(lock);
        Ok(out)
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        fs::write(&tmp, bytes)?;
        fs::rename(tmp, self.dir.join(name))
    }

    pub fn set_faults(&self, faults: Faults) -> io::Result<()> {
        self.transact(|t| {
            t.faults = faults;
            t.faults_changed = true;
        })
    }

    pub fn faults(&self) -> io::Result<Faults> {
        self.transact(|t| t.faults.clone())
    }

    /// Replaces running and candidate with `set_text`, as a switch booted with it (no log).
    pub fn seed_running(&self, set_text: &str) -> io::Result<()> {
        let config = Config::from_set_text(set_text).map_err(invalid)?;
        self.transact(|t| {
            t.state.running = config.clone();
            t.state.candidate = config;
            t.state.modified_by.clear();
        })
    }

    pub fn running(&self) -> io::Result<Config> {
        self.transact(|t| t.state.running.clone())
    }

    pub fn candidate(&self) -> io::Result<Config> {
        self.transact(|t| t.state.candidate.clone())
    }

    pub fn lock_holder(&self) -> io::Result<Option<LockHolder>> {
        self.transact(|t| t.state.lock.clone())
    }

    pub fn pending_confirm(&self) -> io::Result<Option<PendingConfirm>> {
        self.transact(|t| t.state.pending.clone())
    }

    /// Every commit so far, oldest first.
    pub fn commit_log(&self) -> io::Result<Vec<CommitLogEntry>> {
        // Read under the lock so that a half-written line is never seen.
        self.transact(|_| ())?;
        let lock = File::open(self.dir.join("lock"))?;
        lock.lock_shared()?;
        let file = match File::open(self.dir.join("commits.jsonl")) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        for line in io::BufReader::new(file).lines() {
            let line = line?;
            if !line.trim().is_empty() {
                entries.push(serde_json::from_str(&line).map_err(invalid)?);
            }
        }
        Ok(entries)
    }
}

/// Applies what is due now (rollback of an unconfirmed commit, locks of dead sessions);
/// true when a rollback happened. Every access does this too; tests call it to be explicit.
pub fn settle(state: &StateDir) -> io::Result<bool> {
    // `transact` settles first; report whether that rolled back by looking at the log.
    state.transact(|t| t.log.iter().any(|e| e.kind == "rollback"))
}
