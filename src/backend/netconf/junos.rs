//! The Junos change sequence for one switch: lock → pending confirmed commit? → read the
//! ports (`interfaces <port>`, `protocols dot1x authenticator`) → render the lines from what
//! is there → load → diff → (nothing to do: unlock) → commit check → confirmed commit →
//! confirming commit → unlock → close.
//!
//! What can go wrong and what we then do:
//! - the candidate is locked (or modified) by someone else: retry with backoff until
//!   `lock_timeout`, then `Locked` naming the holder;
//! - someone else's confirmed commit is pending confirmation: any commit of ours would confirm
//!   it (Junos confirms with the next commit, whoever sends it), making their trial change
//!   permanent; unlock and report `Locked` (transient: the engine tries again later, after
//!   they confirmed or it rolled back);
//! - any error before a commit was sent: discard our changes (only while we hold the lock),
//!   unlock, close; the switch is as it was;
//! - an `<rpc-error>` on the confirmed commit proves nothing either (Virtual Chassis and
//!   dual-RE switches can answer one after the master committed): still holding the lock,
//!   a diff left means nothing was committed; no diff means the change is active, and it is
//!   read back and confirmed in the same session;
//! - a lost reply or an error after a commit was sent proves nothing (EX3400 has been seen
//!   applying a commit and then failing the unlock): reconnect, read the active configuration
//!   back and check every rendered `set` line is there, confirming a pending commit if needed,
//!   else `Uncertain`.
//!
//! Juniper's "Terminate a NETCONF Session" documents that a session ending with a confirmed
//! commit pending has the configuration restored at once. So errors are handled in the same
//! session where it still works; a session we drop between the confirmed and the confirming
//! commit takes the change with it, and the read-back then reports `Uncertain` (the engine
//! retries); it still matters for a commit still running in its abandoned
//! session (Junos finishes it before it lets the lock go), for our own pending commit found
//! by a later run, and for simulators and platforms that keep the pending commit.
//! `backend.netconf.rpc_timeout` must therefore cover the slowest commit of the switches
//! (an EX can take a minute): a commit reply that times out makes us drop the session, which
//! rolls the change back.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::backend::{BackendError, PortResult};
use crate::model::InterfaceName;

use super::config_text::unmet_lines;
use super::diff::port_results;
use super::error::NetconfError;
use super::port_state::{self, PortConfig};
use super::rpc::{describe, Datastore, RpcError};
use super::session::{PendingCommit, Session};

/// The rendered lines of one port change.
#[derive(Debug, Clone)]
pub struct PortLines {
    pub port: InterfaceName,
    pub lines: Vec<String>,
    /// What the operator should know about this port (shown above its diff), e.g. 802.1X
    /// configured on `interface all`, which mesa does not change.
    pub note: Option<String>,
}

/// Everything to apply to one switch in one commit.
#[derive(Debug, Clone)]
pub struct Plan {
    pub switch: String,
    pub ports: Vec<PortLines>,
    /// Commit log message (`mesa: <reasons>`).
    pub log: String,
}

impl Plan {
    fn all_lines(&self) -> Vec<String> {
        self.ports
            .iter()
            .flat_map(|p| p.lines.iter().cloned())
            .collect()
    }

    /// Puts each port's note above its diff, so the decision and the messages carry it.
    fn annotate(&self, mut results: Vec<PortResult>) -> Vec<PortResult> {
        for (result, port) in results.iter_mut().zip(&self.ports) {
            if let Some(note) = &port.note {
                result.diff = if result.diff.is_empty() {
                    format!("# {note}")
                } else {
                    format!("# {note}\n{}", result.diff)
                };
            }
        }
        results
    }
}

/// Renders the plan from what the ports have now (see [`super::port_state`]).
pub type Render<'a> = dyn Fn(&[PortConfig]) -> Result<Plan, BackendError> + 'a;

#[derive(Debug, Clone, Copy)]
pub struct SequenceOptions {
    pub lock_timeout: Duration,
    /// Junos confirmed-commit safety net, whole minutes (1–65535).
    pub confirm_minutes: u16,
    /// First wait between lock attempts; doubles up to 10 s.
    pub lock_backoff: Duration,
}

impl SequenceOptions {
    /// Rounds a duration up to whole minutes, within what Junos accepts.
    pub fn minutes(d: Duration) -> u16 {
        let minutes = d.as_secs().div_ceil(60).clamp(1, 65_535);
        u16::try_from(minutes).unwrap_or(u16::MAX)
    }
}

/// Where the sequence failed, which decides the clean-up.
enum Failure {
    /// Nothing committed: discard, unlock, report. `usable` is false when the session itself
    /// failed (timeout, closed): then the server drops our lock and changes with it.
    BeforeCommit { error: BackendError, usable: bool },
    /// A commit was sent and its fate is unknown. `confirmed` tells whether the confirming
    /// commit was acknowledged; `results` are what the diff said, reported if the read-back
    /// finds the change applied.
    AfterCommit {
        cause: String,
        confirmed: bool,
        results: Vec<PortResult>,
    },
    /// The outcome was checked in the still usable session: clean up as for `BeforeCommit`
    /// (discarding is harmless once candidate and active agree) and report this.
    Checked(BackendError),
}

/// Runs the whole sequence; `connect` opens a fresh session (also used to recover). Inside
/// the lock, the configuration of `ports` is read and handed to `render`, which returns the
/// lines to load: what mesa deletes depends on what is there.
pub fn apply(
    connect: &dyn Fn() -> Result<Session, NetconfError>,
    switch: &str,
    ports: &[InterfaceName],
    render: &Render<'_>,
    opts: &SequenceOptions,
) -> Result<Vec<PortResult>, BackendError> {
    let mut session = connect().map_err(|e| e.into_backend("connect"))?;
    if let Err(e) = lock_with_retry(&mut session, opts) {
        let _ = session.close();
        return Err(e);
    }
    let leave = |mut session: Session, e: NetconfError, what: &str| {
        if !e.is_unknown_outcome() {
            let _ = session.unlock(Datastore::Candidate);
            let _ = session.close();
        }
        e.into_backend(what)
    };
    let pending = match pending_confirm(&mut session, switch) {
        Ok(pending) => pending,
        Err(e) => return Err(leave(session, e, "get-commit-information")),
    };
    if let Some(theirs) = pending.as_ref().filter(|p| !p.is_mesa()) {
        // Nothing loaded yet: nothing to discard, and discarding could only hurt.
        let _ = session.unlock(Datastore::Candidate);
        let _ = session.close();
        return Err(foreign_pending(theirs));
    }
    let current = match read_ports(&mut session, ports) {
        Ok(current) => current,
        Err(e) => return Err(leave(session, e, "get-configuration")),
    };
    let plan = match render(&current) {
        Ok(plan) => plan,
        Err(e) => {
            let _ = session.unlock(Datastore::Candidate);
            let _ = session.close();
            return Err(e);
        }
    };
    run_locked(connect, session, &plan, opts, pending).map(|results| plan.annotate(results))
}

/// The configuration of every port of the batch, as the candidate has it (inside the lock
/// the candidate is the active configuration: the lock is refused while it holds changes).
fn read_ports(
    session: &mut Session,
    ports: &[InterfaceName],
) -> Result<Vec<PortConfig>, NetconfError> {
    match session.junos_get_text_filtered(&port_state::filter_xml(ports)) {
        Ok(text) => Ok(ports
            .iter()
            .map(|p| PortConfig::from_text(&text, p))
            .collect()),
        // A server that refuses the read (not Junos, or a login class without it): the
        // templates then delete every leaf mesa owns, which is safe, only noisier.
        Err(NetconfError::Rpc(errors)) => {
            tracing::warn!(peer = %session.peer(), error = %describe(&errors), "cannot read the ports' configuration; rendering without it");
            Ok(ports.iter().map(PortConfig::unknown).collect())
        }
        Err(e) => Err(e),
    }
}

/// From the load on, holding the lock; clean-up and recovery by where it failed.
fn run_locked(
    connect: &dyn Fn() -> Result<Session, NetconfError>,
    mut session: Session,
    plan: &Plan,
    opts: &SequenceOptions,
    pending: Option<PendingCommit>,
) -> Result<Vec<PortResult>, BackendError> {
    match locked(&mut session, plan, opts, pending) {
        Ok(None) => {
            if let Err(e) = session.unlock(Datastore::Candidate) {
                tracing::warn!(switch = %plan.switch, error = %e, "unlock failed after an empty diff");
            }
            let _ = session.close();
            Ok(unchanged(plan))
        }
        Ok(Some(results)) => match session.unlock(Datastore::Candidate) {
            Ok(_) => {
                let _ = session.close();
                Ok(results)
            }
            Err(e) => {
                let _ = session.close();
                let cause = format!("unlock after commit failed: {e}");
                recover(connect, plan, opts, &cause, true, results)
            }
        },
        Err(Failure::BeforeCommit {
            error,
            usable: false,
        }) => {
            drop(session);
            Err(error)
        }
        Err(
            Failure::BeforeCommit {
                error,
                usable: true,
            }
            | Failure::Checked(error),
        ) => {
            if let Err(e) = session.discard_changes() {
                tracing::warn!(switch = %plan.switch, error = %e, "discard-changes failed");
            }
            let _ = session.unlock(Datastore::Candidate);
            let _ = session.close();
            Err(error)
        }
        Err(Failure::AfterCommit {
            cause,
            confirmed,
            results,
        }) => {
            drop(session);
            recover(connect, plan, opts, &cause, confirmed, results)
        }
    }
}

/// The part run while holding the lock. `Ok(None)`: the switch already had it all.
/// `pending` is a pending confirmed commit of mesa's, if any (someone else's stops us before).
fn locked(
    session: &mut Session,
    plan: &Plan,
    opts: &SequenceOptions,
    pending: Option<PendingCommit>,
) -> Result<Option<Vec<PortResult>>, Failure> {
    let loaded = session
        .junos_load_set(&plan.all_lines())
        .map_err(before("load-configuration"))?;
    for warning in loaded.warnings() {
        tracing::debug!(switch = %plan.switch, %warning, "load-configuration warning");
    }
    let diff = session.junos_diff().map_err(before("diff"))?;
    if diff.trim().is_empty() {
        if let Some(ours) = pending {
            confirm_own_pending(session, plan, &ours)?;
        }
        return Ok(None);
    }
    session.junos_commit_check().map_err(|e| match e {
        // The same validation the commit itself runs: report it as the commit failing.
        NetconfError::Rpc(errors) => Failure::BeforeCommit {
            error: BackendError::Commit(format!("commit check: {}", describe(&errors))),
            usable: true,
        },
        other => before("commit check")(other),
    })?;
    let ports: Vec<InterfaceName> = plan.ports.iter().map(|p| p.port.clone()).collect();
    let results = port_results(&diff, &ports);
    match session.junos_commit_confirmed(opts.confirm_minutes, &plan.log) {
        Ok(_) => {}
        // On Virtual Chassis and dual-RE switches an error can follow a commit that went
        // through on the master: look before calling it failed.
        Err(NetconfError::Rpc(errors)) => {
            return after_commit_error(session, plan, opts, &errors, results).map(Some);
        }
        Err(e) => {
            return Err(Failure::AfterCommit {
                cause: format!("confirmed commit: {e}"),
                confirmed: false,
                results,
            })
        }
    }
    match session.junos_commit() {
        Ok(_) => Ok(Some(results)),
        // The session still works: check and confirm in it, since ending it would roll the
        // confirmed commit back at once.
        Err(NetconfError::Rpc(errors)) => {
            let cause = format!("confirming commit answered {}", describe(&errors));
            tracing::warn!(switch = %plan.switch, %cause, "reading the configuration back in the same session");
            read_back_and_confirm(session, plan, opts, false, true)
                .map(|()| Some(results))
                .map_err(|why| Failure::Checked(BackendError::Uncertain(format!("{cause}; {why}"))))
        }
        Err(e) => Err(Failure::AfterCommit {
            cause: format!("confirming commit: {e}"),
            confirmed: false,
            results,
        }),
    }
}

/// The confirmed commit answered `<rpc-error>`: committed or not? Still holding the lock, the
/// candidate against the active configuration tells: a diff left means nothing was committed
/// (report the error); none means the change is active, and it is read back and confirmed.
fn after_commit_error(
    session: &mut Session,
    plan: &Plan,
    opts: &SequenceOptions,
    errors: &[RpcError],
    results: Vec<PortResult>,
) -> Result<Vec<PortResult>, Failure> {
    let error = describe(errors);
    tracing::warn!(switch = %plan.switch, %error, "confirmed commit answered an error; reading back before reporting");
    let diff = match session.junos_diff() {
        Ok(diff) => diff,
        Err(e) => {
            return Err(Failure::AfterCommit {
                cause: format!("confirmed commit answered {error}; the diff after it failed: {e}"),
                confirmed: false,
                results,
            })
        }
    };
    if !diff.trim().is_empty() {
        return Err(Failure::BeforeCommit {
            error: BackendError::Commit(error),
            usable: true,
        });
    }
    let cause =
        format!("confirmed commit answered {error}, yet the candidate is the active configuration");
    read_back_and_confirm(session, plan, opts, false, true)
        .map(|()| {
            tracing::warn!(switch = %plan.switch, %cause, "committed despite the error; confirmed");
            results
        })
        .map_err(|why| Failure::Checked(BackendError::Uncertain(format!("{cause}; {why}"))))
}

/// Nothing to change, but the lines may be active only through our own confirmed commit
/// whose confirmation never came (mesa was killed between the two commits, on a switch that
/// kept the pending commit past the session, or while the commit was still running): without
/// a confirmation Junos would roll them back. Only called for mesa's own pending commit.
fn confirm_own_pending(
    session: &mut Session,
    plan: &Plan,
    ours: &PendingCommit,
) -> Result<(), Failure> {
    tracing::warn!(switch = %plan.switch, log = %ours.log, "confirming an earlier confirmed commit of mesa left unconfirmed");
    session.junos_commit().map_err(|e| Failure::AfterCommit {
        cause: format!("confirming an earlier commit: {e}"),
        confirmed: false,
        results: unchanged(plan),
    })?;
    Ok(())
}

/// The pending confirmed commit, if any. A switch that cannot tell (RPC refused) is treated
/// as having nothing pending.
fn pending_confirm(
    session: &mut Session,
    switch: &str,
) -> Result<Option<PendingCommit>, NetconfError> {
    match session.junos_pending_confirm() {
        Ok(pending) => Ok(pending),
        Err(NetconfError::Rpc(errors)) => {
            tracing::debug!(switch = %switch, error = %describe(&errors), "commit information unavailable");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn foreign_pending(theirs: &PendingCommit) -> BackendError {
    BackendError::Locked(format!(
        "a confirmed commit by {} is pending confirmation; not committing over it",
        theirs.user
    ))
}

/// Every port of the plan, already as planned.
fn unchanged(plan: &Plan) -> Vec<PortResult> {
    plan.ports
        .iter()
        .map(|p| PortResult {
            port: p.port.clone(),
            changed: false,
            diff: String::new(),
        })
        .collect()
}

fn before(what: &'static str) -> impl Fn(NetconfError) -> Failure {
    move |e| Failure::BeforeCommit {
        usable: !e.is_unknown_outcome(),
        error: e.into_backend(what),
    }
}

/// Locks the candidate, waiting for another holder to let go until `lock_timeout`.
fn lock_with_retry(session: &mut Session, opts: &SequenceOptions) -> Result<(), BackendError> {
    let deadline = Instant::now() + opts.lock_timeout;
    let mut backoff = opts.lock_backoff.max(Duration::from_millis(10));
    loop {
        match session.lock(Datastore::Candidate) {
            Ok(_) => return Ok(()),
            Err(NetconfError::Rpc(errors)) if lock_busy(&errors) => {
                let holder = lock_holder(&errors);
                if Instant::now() + backoff > deadline {
                    return Err(BackendError::Locked(format!(
                        "{holder} (waited {:?})",
                        opts.lock_timeout
                    )));
                }
                tracing::info!(peer = %session.peer(), %holder, "candidate locked, retrying in {backoff:?}");
                sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e.into_backend("lock")),
        }
    }
}

/// A lock refused because someone else holds it or has uncommitted changes.
pub fn lock_busy(errors: &[RpcError]) -> bool {
    errors.iter().any(|e| {
        let msg = e.message.as_deref().unwrap_or("").to_ascii_lowercase();
        e.tag.as_deref() == Some("lock-denied")
            || msg.contains("locked by")
            || msg.contains("database modified")
            || msg.contains("in use")
    })
}

/// Who holds the lock, in words: the Junos user line, or the NETCONF session id.
pub fn lock_holder(errors: &[RpcError]) -> String {
    for e in errors {
        let msg = e.message.as_deref().unwrap_or("");
        if let Some((_, who)) = msg.split_once("locked by:") {
            let who = who.split_whitespace().collect::<Vec<_>>().join(" ");
            return format!("locked by {who}");
        }
        if msg.contains("database modified") {
            return "another user has uncommitted changes (configuration database modified)".into();
        }
        if let Some(id) = e.info("session-id") {
            return format!("locked by NETCONF session {id}");
        }
    }
    describe(errors)
}

/// After a commit whose outcome is unknown: look at the active configuration through a new
/// session. Present → success (confirming a pending confirmed commit when needed).
///
/// The new session takes the lock first: our old session may still be inside its commit
/// (reply timed out, not the commit), and Junos keeps its lock until that commit is done, so
/// waiting for the lock means reading the configuration after it, not before.
fn recover(
    connect: &dyn Fn() -> Result<Session, NetconfError>,
    plan: &Plan,
    opts: &SequenceOptions,
    cause: &str,
    confirmed: bool,
    results: Vec<PortResult>,
) -> Result<Vec<PortResult>, BackendError> {
    tracing::warn!(switch = %plan.switch, %cause, "commit outcome unknown, reading the configuration back");
    let uncertain = |why: String| BackendError::Uncertain(format!("{cause}; {why}"));
    let mut session = connect().map_err(|e| uncertain(format!("reconnect failed: {e}")))?;
    let locked = match lock_with_retry(&mut session, opts) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(switch = %plan.switch, error = %e, "read-back without the lock");
            false
        }
    };
    let outcome = read_back_and_confirm(&mut session, plan, opts, confirmed, locked);
    if locked {
        let _ = session.unlock(Datastore::Candidate);
    }
    let _ = session.close();
    outcome.map(|()| results).map_err(uncertain)
}

/// Checks every `set` line is active; confirms a pending confirmed commit when asked to.
fn read_back_and_confirm(
    session: &mut Session,
    plan: &Plan,
    opts: &SequenceOptions,
    confirmed: bool,
    locked: bool,
) -> Result<(), String> {
    let missing = active_missing(session, plan)?;
    if let Some(first) = missing.first() {
        return Err(format!(
            "{} line(s) not in the active configuration, first: {first}",
            missing.len()
        ));
    }
    if confirmed {
        return Ok(());
    }
    let unconfirmed = |why: String| {
        format!(
            "the lines are active but confirming failed ({why}); Junos rolls back within {} min unless confirmed",
            opts.confirm_minutes
        )
    };
    if !locked {
        return Err(unconfirmed("candidate locked by someone else".into()));
    }
    // Our confirming commit would also confirm a newer confirmed commit of someone else.
    if let Some(theirs) = pending_confirm(session, &plan.switch)
        .map_err(|e| unconfirmed(e.to_string()))?
        .filter(|p| !p.is_mesa())
    {
        return Err(unconfirmed(foreign_pending(&theirs).to_string()));
    }
    // The lines may be there only until the confirmed commit rolls back: confirm it. A commit
    // just outlived rpc_timeout, so this one may too; any reply before the rollback deadline
    // is worth waiting for.
    session.set_rpc_timeout(Duration::from_secs(u64::from(opts.confirm_minutes) * 60));
    session
        .junos_commit()
        .map_err(|e| unconfirmed(e.to_string()))?;
    // A rollback due just before our confirmation leaves nothing to confirm (the commit then
    // commits the rolled-back candidate): look again rather than trust the first reading.
    let missing = active_missing(session, plan)?;
    if let Some(first) = missing.first() {
        return Err(format!(
            "the confirmed commit rolled back before it was confirmed ({} line(s) missing, first: {first})",
            missing.len()
        ));
    }
    Ok(())
}

fn active_missing(session: &mut Session, plan: &Plan) -> Result<Vec<String>, String> {
    let text = session
        .junos_get_text(true)
        .map_err(|e| format!("read-back failed: {e}"))?;
    Ok(unmet_lines(&text, &plan.all_lines()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::netconf::rpc::RpcReply;

    #[test]
    fn junos_lock_refusals_name_the_holder() {
        // Text from the reference README (Junos "configuration database locked by").
        let locked = RpcReply::parse(
            "<rpc-reply><rpc-error><error-type>protocol</error-type><error-tag>lock-denied</error-tag>\
             <error-severity>error</error-severity><error-message>configuration database locked by:\n  \
             admin terminal  (pid 32260) on since 2021-05-06 11:04:06 UTC, idle 00:04:48\n      exclusive\
             </error-message><error-info><session-id>4711</session-id></error-info></rpc-error></rpc-reply>",
        )
        .unwrap();
        assert!(lock_busy(&locked.errors));
        assert_eq!(
            lock_holder(&locked.errors),
            "locked by admin terminal (pid 32260) on since 2021-05-06 11:04:06 UTC, idle 00:04:48 exclusive"
        );
        let modified = RpcReply::parse(
            "<rpc-reply><rpc-error><error-severity>error</error-severity>\
             <error-message>configuration database modified</error-message></rpc-error></rpc-reply>",
        )
        .unwrap();
        assert!(lock_busy(&modified.errors));
        assert!(lock_holder(&modified.errors).contains("uncommitted changes"));
        let other = RpcReply::parse(
            "<rpc-reply><rpc-error><error-tag>access-denied</error-tag><error-message>permission denied</error-message></rpc-error></rpc-reply>",
        )
        .unwrap();
        assert!(!lock_busy(&other.errors));
    }

    #[test]
    fn confirm_minutes_round_up_and_clamp() {
        assert_eq!(SequenceOptions::minutes(Duration::from_secs(0)), 1);
        assert_eq!(SequenceOptions::minutes(Duration::from_secs(60)), 1);
        assert_eq!(SequenceOptions::minutes(Duration::from_secs(61)), 2);
        assert_eq!(SequenceOptions::minutes(Duration::from_secs(120)), 2);
        assert_eq!(
            SequenceOptions::minutes(Duration::from_secs(10_000_000)),
            65_535
        );
    }
}
