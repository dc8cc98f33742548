//! A Junos EX switch that speaks NETCONF like the real one, for the tests, `mesa demo` and
//! the benchmarks. It is served once per SSH session (sshd's `Subsystem netconf` runs
//! `mesa-junos-sim --state DIR`), so all shared state lives in a [`StateDir`].
//!
//! What it does, as Junos does:
//! - hello with a `session-id`, base:1.0 and base:1.1 (base:1.0 only with the `base10_only`
//!   fault) and `http://xml.juniper.net/netconf/junos/1.0`; chunked framing when both sides
//!   offer base:1.1, `]]>]]>` otherwise;
//! - one shared candidate: `<lock>`/`<unlock>` (also `lock-configuration`), refused with the
//!   Junos `configuration database locked by:` message, or `configuration database modified`
//!   when someone else's uncommitted changes are in the candidate. Releasing the lock
//!   (`unlock`, end of session, `kill-session`) discards the uncommitted changes made under
//!   it, as Junos does; changes made without the lock (shared `configure`) stay;
//! - `<load-configuration action="set" format="text"><configuration-set>`: each line applied
//!   on its own; errors (line skipped) and the `statement not found` warning of `delete`;
//! - `<get-configuration compare="rollback" rollback="N" format="text"/>`: a `show | compare`
//!   diff of the candidate against rollback N (0 = running) in `<configuration-output>`;
//! - `<get-configuration format="set|text" [database="committed"]>` with an optional
//!   `<configuration>` filter: the candidate (Junos's default!) or running configuration as
//!   `<configuration-set>` (set lines) or `<configuration-text>` (curly braces);
//!   XML format is not simulated. `<get-config>` returns `<data><configuration-set>`;
//! - `<commit-configuration>` with `<check/>`, `<confirmed/>` + `<confirm-timeout>` in
//!   minutes (1..65535, default 10), `<log>`; a later commit confirms. An unconfirmed commit
//!   rolls back at its deadline, applied lazily at the next access (see [`settle`]);
//!   standard `<commit>` (seconds) and `<validate>` too;
//! - `<discard-changes/>`, `<close-session/>`, `<kill-session>`; anything else is
//!   `operation-not-supported`.
//!
//! - a session that ends (closed, dropped, killed, its process gone) with its confirmed
//!   commit pending has the configuration restored at once, as Juniper documents
//!   ("Terminate a NETCONF Session"); the `keep_pending_on_session_end` fault keeps it;
//! - boot configurations ([`seed`]): the factory default of an EX with `storm-control
//!   default` on every port, 802.1X on bare, `.0` or `all` names.
//!
//! Faults ([`Faults`], `faults.json`) inject slow or failing commits, dropped connections,
//! the EX3400 unlock error, base:1.0-only hellos and rejected lines.

pub mod config;
pub mod diff;
pub mod framing;
pub mod reply;
pub mod seed;
pub mod session;
pub mod state;
pub mod xml;

pub use config::Config;
pub use seed::{factory_default, Dot1xSeed};
pub use session::serve;
pub use state::{
    settle, CommitErrorFault, CommitLogEntry, Faults, LockHolder, PendingConfirm, StateDir,
    MINUTE_SECS_ENV,
};
