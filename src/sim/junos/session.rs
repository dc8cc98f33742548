//! One NETCONF session: the hello exchange, then one RPC at a time until the peer closes.
//! Every RPC runs as a transaction on the shared [`StateDir`], so sessions in other processes
//! see its effects at once.

use std::io::{self, BufWriter, Read, Write};
use std::time::Duration;

use super::config::Config;
use super::diff;
use super::framing::{write_message, FrameReader, Framing};
use super::reply::{self, RpcError, BASE_10, BASE_11};
use super::state::{
    now_ms, CommitLogEntry, LockHolder, PendingConfirm, ProcId, SessionInfo, StateDir, Txn,
};
use super::xml::{self, Element};

/// What to do after an RPC.
enum Next {
    Reply(String),
    /// Reply, then end the session (`close-session`).
    Close(String),
    /// End the session without a reply (the `drop_during_commit` fault, `kill-session`).
    Drop,
}

type RpcResult = io::Result<Result<Next, RpcError>>;

/// The request's attributes to echo, and what to do.
type Handled = (Vec<(String, String)>, Result<Next, RpcError>);

/// Options of a commit, from `<commit-configuration>` or `<commit>`.
struct CommitOpts {
    check: bool,
    /// Confirmed commit: timeout in milliseconds and as Junos counts it (minutes).
    confirm: Option<(i64, u32)>,
    log: Option<String>,
    /// `<commit>` answers `<ok/>` and errors as rpc-error; Junos's own RPC has commit-results.
    standard: bool,
}

pub struct Session<'a> {
    state: &'a StateDir,
    id: u32,
    user: String,
    process: ProcId,
    /// Committed while holding the lock (for the `unlock_error_after_commit` quirk).
    committed_under_lock: bool,
}

/// Serves one session on `input`/`output` until the peer closes it; see the module doc of
/// [`super`]. On return the session's lock is released with the changes made under
/// it; changes made without the lock stay in the shared candidate; a confirmed commit it
/// left pending is rolled back at once (unless the `keep_pending_on_session_end` fault).
pub fn serve<R: Read, W: Write>(
    input: R,
    output: W,
    state: &StateDir,
    user: &str,
) -> io::Result<()> {
    let process = ProcId::current();
    let user = user.to_string();
    let (id, base10_only) = state.transact(|t| {
        let id = t.state.next_session;
        t.state.next_session += 1;
        t.state.sessions.insert(
            id,
            SessionInfo {
                process,
                user: user.clone(),
                since: now_ms() / 1000,
            },
        );
        (id, t.faults.base10_only)
    })?;
    let mut session = Session {
        state,
        id,
        user,
        process,
        committed_under_lock: false,
    };
    let result = session.run(input, output, base10_only);
    let cleanup = state.transact(|t| {
        t.state.sessions.remove(&id);
        t.state.killed.retain(|&s| s != id);
        if t.state.lock.as_ref().is_some_and(|l| l.session == id) {
            t.state.release_lock();
        }
        t.session_ended(id);
    });
    result.and(cleanup)
}

impl Session<'_> {
    fn run<R: Read, W: Write>(&mut self, input: R, output: W, base10_only: bool) -> io::Result<()> {
        let mut reader = FrameReader::new(input);
        let mut out = BufWriter::new(output);
        let hello = reply::hello(self.id, &self.user, !base10_only);
        write_message(&mut out, Framing::EndOfMessage, hello.as_bytes())?;

        let Some(msg) = reader.read_message()? else {
            return Ok(());
        };
        let Some(client_caps) = client_capabilities(&msg) else {
            return Ok(()); // Not a hello: RFC 6241 says close.
        };
        let framing = if !base10_only && client_caps.iter().any(|c| c == BASE_11) {
            Framing::Chunked
        } else if client_caps.iter().any(|c| c == BASE_10) {
            Framing::EndOfMessage
        } else {
            return Ok(()); // No common base version.
        };
        reader.set_framing(framing);

        while let Some(msg) = reader.read_message()? {
            let (attrs, next) = self.handle(&msg)?;
            match next {
                Ok(Next::Reply(body)) => write_message(
                    &mut out,
                    framing,
                    reply::rpc_reply(&attrs, &body).as_bytes(),
                )?,
                Ok(Next::Close(body)) => {
                    write_message(
                        &mut out,
                        framing,
                        reply::rpc_reply(&attrs, &body).as_bytes(),
                    )?;
                    return Ok(());
                }
                Ok(Next::Drop) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "session dropped (fault or kill-session)",
                    ))
                }
                Err(e) => write_message(
                    &mut out,
                    framing,
                    reply::rpc_reply(&attrs, &e.xml()).as_bytes(),
                )?,
            }
        }
        Ok(())
    }

    /// Decodes one message; returns the attributes to echo and what to do.
    fn handle(&mut self, msg: &[u8]) -> io::Result<Handled> {
        let malformed = |m: String| {
            let mut e = RpcError::new("malformed-message", m);
            e.error_type = "rpc";
            Ok((Vec::new(), Err(e)))
        };
        let Ok(text) = std::str::from_utf8(msg) else {
            return malformed("message is not UTF-8".into());
        };
        let rpc = match xml::parse(text) {
            Ok(el) => el,
            Err(e) => return malformed(e.to_string()),
        };
        if rpc.name != "rpc" {
            return malformed(format!("expected <rpc>, got <{}>", rpc.name));
        }
        let Some(op) = rpc.children.first() else {
            return Ok((
                rpc.attrs.clone(),
                Err(RpcError::new(
                    "missing-element",
                    "syntax error, expecting <rpc> content",
                )),
            ));
        };
        if self.touch()? {
            return Ok((rpc.attrs.clone(), Ok(Next::Drop)));
        }
        let next = self.dispatch(op)?;
        Ok((rpc.attrs.clone(), next))
    }

    /// Marks the session active; true when it was killed by another session.
    fn touch(&self) -> io::Result<bool> {
        let id = self.id;
        self.state.transact(|t| {
            if t.state.killed.contains(&id) {
                return true;
            }
            if let Some(lock) = t.state.lock.as_mut().filter(|l| l.session == id) {
                lock.last_active = now_ms() / 1000;
            }
            false
        })
    }

    fn dispatch(&mut self, op: &Element) -> RpcResult {
        match op.name.as_str() {
            "lock" | "lock-configuration" => self.lock(),
            "unlock" | "unlock-configuration" => self.unlock(),
            "load-configuration" => self.load(op),
            "get-configuration" => self.get_configuration(op),
            "get-config" => self.get_config(op),
            "commit-configuration" => {
                let confirm = match op.child("confirmed") {
                    None => None,
                    Some(_) => match confirm_minutes(op.child("confirm-timeout")) {
                        Ok(m) => Some(m),
                        Err(e) => return Ok(Err(e)),
                    },
                };
                let minute = self.state.transact(|t| t.minute_ms())?;
                self.commit(CommitOpts {
                    check: op.child("check").is_some(),
                    confirm: confirm.map(|m| (i64::from(m) * minute, m)),
                    log: op.child("log").map(|l| l.trimmed_text().to_string()),
                    standard: false,
                })
            }
            "commit" => {
                let confirm = match op.child("confirmed") {
                    None => None,
                    Some(_) => {
                        let secs = match op.child("confirm-timeout") {
                            None => 600,
                            Some(t) => match t.trimmed_text().parse::<u32>() {
                                Ok(s) if s > 0 => s,
                                _ => {
                                    return Ok(Err(RpcError::bad_element(
                                        "invalid-value",
                                        "invalid confirm-timeout",
                                        t.trimmed_text(),
                                    )))
                                }
                            },
                        };
                        Some((i64::from(secs) * 1000, secs.div_ceil(60)))
                    }
                };
                self.commit(CommitOpts {
                    check: false,
                    confirm,
                    log: None,
                    standard: true,
                })
            }
            "get-commit-information" => {
                let (pending, leaf) = self
                    .state
                    .transact(|t| (t.state.pending.clone(), t.faults.commit_confirmed_leaf))?;
                let log = self.state.commit_log()?;
                Ok(Ok(Next::Reply(reply::commit_information(
                    &log,
                    pending.as_ref(),
                    leaf,
                ))))
            }
            "validate" => self.validate(),
            "discard-changes" => self.discard(),
            "close-session" => Ok(Ok(Next::Close("<ok/>".into()))),
            "kill-session" => self.kill(op),
            other => Ok(Err(RpcError::bad_element(
                "operation-not-supported",
                "syntax error",
                other,
            ))),
        }
    }

    fn holder(&self) -> LockHolder {
        let now = now_ms() / 1000;
        LockHolder {
            session: self.id,
            process: self.process,
            user: self.user.clone(),
            since: now,
            last_active: now,
        }
    }

    fn lock(&mut self) -> RpcResult {
        let me = self.holder();
        let result = self.state.transact(|t| {
            if let Some(h) = &t.state.lock {
                let error = RpcError::locked_by(h, now_ms() / 1000);
                let refusal = super::state::LockRefusal {
                    session: me.session,
                    holder: h.session,
                    time: now_ms() / 1000,
                };
                t.state.lock_refusals.push(refusal);
                return Err(error);
            }
            if t.state.modified_by_other(me.session) {
                return Err(RpcError::database_modified());
            }
            t.state.lock = Some(me);
            Ok(Next::Reply("<ok/>".into()))
        })?;
        if result.is_ok() {
            self.committed_under_lock = false;
        }
        Ok(result)
    }

    fn unlock(&mut self) -> RpcResult {
        let id = self.id;
        let quirk = self.committed_under_lock;
        self.committed_under_lock = false;
        self.state.transact(|t| match &t.state.lock {
            Some(l) if l.session == id => {
                t.state.release_lock();
                if quirk && t.faults.unlock_error_after_commit {
                    Err(RpcError::new(
                        "operation-failed",
                        "error unlocking configuration database",
                    ))
                } else {
                    Ok(Next::Reply("<ok/>".into()))
                }
            }
            _ => Err(RpcError::new(
                "operation-failed",
                "configuration database not locked",
            )),
        })
    }

    /// Marks the candidate as changed by this session, or clean when it equals running.
    fn note_change(t: &mut Txn, id: u32, before: &Config) {
        if t.state.candidate.same_as(&t.state.running) {
            t.state.modified_by.clear();
        } else if !t.state.candidate.same_as(before) && !t.state.modified_by.contains(&id) {
            t.state.modified_by.push(id);
        }
    }

    fn load(&mut self, op: &Element) -> RpcResult {
        let id = self.id;
        if let Some(n) = op.attr("rollback") {
            let Ok(n) = n.trim().parse::<usize>() else {
                return Ok(Err(RpcError::bad_element(
                    "invalid-value",
                    "invalid rollback number",
                    n,
                )));
            };
            return self.state.transact(|t| {
                if let Some(h) = t.state.locked_by_other(id) {
                    return Err(RpcError::locked_by(h, now_ms() / 1000));
                }
                let Some(config) = t.state.rollback(n).cloned() else {
                    return Err(RpcError::new(
                        "operation-failed",
                        format!("rollback {n} does not exist"),
                    ));
                };
                let before = std::mem::replace(&mut t.state.candidate, config);
                Self::note_change(t, id, &before);
                Ok(Next::Reply(reply::load_results(&[])))
            });
        }
        let action = op.attr("action").unwrap_or("merge");
        let text = op
            .child("configuration-set")
            .or_else(|| op.child("configuration-text").filter(|_| action == "set"));
        let (Some(text), "set") = (text, action) else {
            return Ok(Err(RpcError::new(
                "operation-not-supported",
                "the simulator loads action=\"set\" with <configuration-set> only",
            )));
        };
        self.state.transact(|t| {
            if let Some(h) = t.state.locked_by_other(id) {
                return Err(RpcError::locked_by(h, now_ms() / 1000));
            }
            let reject = match (&t.faults.reject_line_containing, &t.faults.reject_message) {
                (Some(needle), msg) => Some((
                    needle.clone(),
                    msg.clone().unwrap_or_else(|| "syntax error".into()),
                )),
                _ => None,
            };
            let before = t.state.candidate.clone();
            let issues = t.state.candidate.load_set_text(
                &text.text,
                reject.as_ref().map(|(n, m)| (n.as_str(), m.as_str())),
            );
            Self::note_change(t, id, &before);
            Ok(Next::Reply(reply::load_results(&issues)))
        })
    }

    fn get_configuration(&mut self, op: &Element) -> RpcResult {
        let prefixes = op
            .child("configuration")
            .map(filter_prefixes)
            .unwrap_or_default();
        let format = op.attr("format").unwrap_or("xml").to_ascii_lowercase();
        if op.attr("compare") == Some("rollback") {
            let n = op.attr("rollback").unwrap_or("0").trim();
            let Ok(n) = n.parse::<usize>() else {
                return Ok(Err(RpcError::bad_element(
                    "invalid-value",
                    "invalid rollback number",
                    n,
                )));
            };
            if format != "text" {
                return Ok(Err(RpcError::new(
                    "operation-not-supported",
                    "the simulator compares in format=\"text\" only",
                )));
            }
            return self.state.transact(|t| {
                let Some(base) = t.state.rollback(n) else {
                    return Err(RpcError::new(
                        "operation-failed",
                        format!("rollback {n} does not exist"),
                    ));
                };
                let text = diff::compare(
                    &base.filter_any(&prefixes),
                    &t.state.candidate.filter_any(&prefixes),
                );
                Ok(Next::Reply(reply::configuration_output(&text)))
            });
        }
        let committed = op.attr("database") == Some("committed");
        let config = self.state.transact(|t| {
            if committed {
                t.state.running.filter_any(&prefixes)
            } else {
                t.state.candidate.filter_any(&prefixes)
            }
        })?;
        Ok(match format.as_str() {
            "set" => Ok(Next::Reply(reply::configuration_set(&config.to_set_text()))),
            "text" => Ok(Next::Reply(reply::configuration_text(&diff::to_text(
                &config,
            )))),
            _ => Err(RpcError::new(
                "operation-not-supported",
                "the simulator returns configurations in format=\"text\" or format=\"set\" only",
            )),
        })
    }

    /// `<get-config>`: the configuration as `set` lines inside `<data>` (no XML schema here).
    fn get_config(&mut self, op: &Element) -> RpcResult {
        let source = op
            .child("source")
            .and_then(|s| s.children.first())
            .map(|c| c.name.as_str());
        let running = match source {
            Some("running") => true,
            Some("candidate") => false,
            _ => {
                return Ok(Err(RpcError::new(
                    "missing-element",
                    "source must be running or candidate",
                )))
            }
        };
        let config = self.state.transact(|t| {
            if running {
                t.state.running.clone()
            } else {
                t.state.candidate.clone()
            }
        })?;
        Ok(Ok(Next::Reply(format!(
            "<data>\n{}\n</data>",
            reply::configuration_set(&config.to_set_text())
        ))))
    }

    fn commit(&mut self, opts: CommitOpts) -> RpcResult {
        let delay = self
            .state
            .transact(|t| match t.faults.commit_check_delay_ms {
                Some(check) if opts.check => check,
                _ => t.faults.commit_delay_ms,
            })?;
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let (id, user) = (self.id, self.user.clone());
        let outcome = self.state.transact(|t| {
            if let Some(h) = t.state.locked_by_other(id) {
                return Err(RpcError::locked_by(h, now_ms() / 1000));
            }
            if let Some(fault) = t.faults.commit_error.clone().filter(|f| f.remaining > 0) {
                if !opts.check {
                    let left = fault.remaining - 1;
                    t.faults.commit_error = (left > 0).then(|| super::state::CommitErrorFault {
                        remaining: left,
                        ..fault.clone()
                    });
                    t.faults_changed = true;
                }
                return Ok((Some(fault), false, false));
            }
            if opts.check {
                return Ok((None, false, false));
            }
            let (added, removed) = t.state.candidate.changes_from(&t.state.running);
            let candidate = t.state.candidate.clone();
            let previous = t.state.running.clone();
            t.state.install(candidate);
            t.state.modified_by.clear();
            let now = now_ms();
            t.state.pending = match (t.state.pending.take(), opts.confirm) {
                (Some(p), Some((ms, minutes))) => Some(PendingConfirm {
                    deadline_ms: now + ms,
                    minutes,
                    session: id,
                    user: user.clone(),
                    ..p
                }),
                (None, Some((ms, minutes))) => Some(PendingConfirm {
                    deadline_ms: now + ms,
                    rollback_to: previous,
                    session: id,
                    user: user.clone(),
                    minutes,
                }),
                (_, None) => None,
            };
            t.log_commit(CommitLogEntry {
                time: Txn::now_rfc3339(),
                session: id,
                user: user.clone(),
                kind: "commit".to_string(),
                log: opts.log.clone(),
                confirmed: opts.confirm.is_some(),
                confirm_minutes: opts.confirm.map(|(_, m)| m),
                lines_added: added,
                lines_removed: removed,
            });
            let under_lock = t.state.lock.as_ref().is_some_and(|l| l.session == id);
            let drop = t.faults.drop_during_commit > 0;
            if drop {
                t.faults.drop_during_commit -= 1;
                t.faults_changed = true;
            }
            if !drop && t.faults.rpc_error_after_commit > 0 {
                t.faults.rpc_error_after_commit -= 1;
                t.faults_changed = true;
                return Err(RpcError::new(
                    "operation-failed",
                    "fpc1: commit-configuration failed: member not responding (committed on fpc0)",
                ));
            }
            Ok((None, under_lock, drop))
        })?;
        Ok(match outcome {
            Err(e) => Err(e),
            Ok((Some(fault), _, _)) if opts.standard => {
                Err(RpcError::new("operation-failed", fault.message))
            }
            Ok((Some(fault), _, _)) => Ok(Next::Reply(reply::commit_error(&fault))),
            Ok((None, under_lock, drop)) => {
                self.committed_under_lock |= under_lock;
                if drop {
                    Ok(Next::Drop)
                } else if opts.standard {
                    Ok(Next::Reply("<ok/>".into()))
                } else {
                    Ok(Next::Reply(reply::commit_success(opts.check)))
                }
            }
        })
    }

    fn validate(&mut self) -> RpcResult {
        self.state.transact(
            |t| match t.faults.commit_error.as_ref().filter(|f| f.remaining > 0) {
                Some(f) => Err(RpcError::new("operation-failed", f.message.clone())),
                None => Ok(Next::Reply("<ok/>".into())),
            },
        )
    }

    fn discard(&mut self) -> RpcResult {
        let id = self.id;
        self.state.transact(|t| {
            if let Some(h) = t.state.locked_by_other(id) {
                return Err(RpcError::locked_by(h, now_ms() / 1000));
            }
            t.state.candidate = t.state.running.clone();
            t.state.modified_by.clear();
            Ok(Next::Reply("<ok/>".into()))
        })
    }

    fn kill(&mut self, op: &Element) -> RpcResult {
        let raw = op
            .child("session-id")
            .map(|s| s.trimmed_text())
            .unwrap_or("");
        let Ok(target) = raw.parse::<u32>() else {
            return Ok(Err(RpcError::bad_element(
                "invalid-value",
                "invalid session-id",
                raw,
            )));
        };
        if target == self.id {
            return Ok(Err(RpcError::bad_element(
                "invalid-value",
                "cannot kill own session",
                raw,
            )));
        }
        let own_pid = self.process.pid;
        let victim = self.state.transact(|t| {
            let Some(info) = t.state.sessions.get(&target).cloned() else {
                return Err(RpcError::bad_element(
                    "invalid-value",
                    "session does not exist",
                    raw,
                ));
            };
            t.state.killed.push(target);
            if t.state.lock.as_ref().is_some_and(|l| l.session == target) {
                t.state.release_lock();
            }
            t.session_ended(target);
            Ok(info.process)
        })?;
        Ok(victim.map(|process| {
            // Another simulator process: end it, which drops its SSH connection as Junos does.
            if process.pid != own_pid && process.alive() && is_simulator(process.pid) {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(process.pid.to_string())
                    .status();
            }
            Next::Reply("<ok/>".into())
        }))
    }
}

fn is_simulator(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("mesa-junos-sim"))
        .unwrap_or(false)
}

/// Junos's confirm-timeout: whole minutes, 1 to 65535, 10 when absent.
fn confirm_minutes(el: Option<&Element>) -> Result<u32, RpcError> {
    let Some(el) = el else {
        return Ok(10);
    };
    let raw = el.trimmed_text();
    match raw.parse::<u32>() {
        Ok(m) if (1..=65535).contains(&m) => Ok(m),
        _ => Err(RpcError::bad_element(
            "invalid-value",
            format!("confirm-timeout: '{raw}' is not within range (1..65535)"),
            raw,
        )),
    }
}

/// The capabilities of a client `<hello>`, or `None` when the message is not a hello.
fn client_capabilities(msg: &[u8]) -> Option<Vec<String>> {
    let hello = xml::parse(std::str::from_utf8(msg).ok()?).ok()?;
    if hello.name != "hello" {
        return None;
    }
    let caps = hello.child("capabilities")?;
    Some(
        caps.children
            .iter()
            .filter(|c| c.name == "capability")
            .map(|c| c.trimmed_text().to_string())
            .collect(),
    )
}

/// A `<configuration>` filter as statement prefixes, one per branch: `<interfaces><interface>
/// <name>ge-0/0/12` is `interfaces ge-0/0/12`; `<unit><name>0` is `unit 0`. Sibling elements
/// are separate branches (`<interfaces>` and `<protocols><dot1x>` in one filter), as Junos
/// returns every subtree a filter names. Empty: no filter (the whole configuration).
pub fn filter_prefixes(configuration: &Element) -> Vec<Vec<String>> {
    fn walk(parent: &str, el: &Element, at: &[String], out: &mut Vec<Vec<String>>) {
        let mut here = at.to_vec();
        match el.child("name").map(|n| n.trimmed_text().to_string()) {
            Some(name) if parent == format!("{}s", el.name) => here.push(name),
            Some(name) => {
                here.push(el.name.clone());
                here.push(name);
            }
            None => {
                here.push(el.name.clone());
                if el.children.is_empty() && !el.trimmed_text().is_empty() {
                    here.push(el.trimmed_text().to_string());
                }
            }
        }
        let below: Vec<&Element> = el.children.iter().filter(|c| c.name != "name").collect();
        for child in &below {
            walk(&el.name, child, &here, out);
        }
        if below.is_empty() {
            out.push(here);
        }
    }
    let mut out = Vec::new();
    for child in &configuration.children {
        walk(&configuration.name, child, &[], &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_prefix_follows_junos_xml_names() {
        let el = xml::parse(
            "<configuration><interfaces><interface><name>ge-0/0/12</name><unit><name>0</name></unit></interface></interfaces></configuration>",
        )
        .unwrap();
        assert_eq!(
            filter_prefixes(&el),
            [["interfaces", "ge-0/0/12", "unit", "0"]]
        );
        let el = xml::parse(
            "<configuration><interfaces><interface><name>ge-0/0/1</name></interface>\
             <interface><name>ge-0/0/2</name></interface></interfaces>\
             <protocols><dot1x><authenticator/></dot1x></protocols></configuration>",
        )
        .unwrap();
        assert_eq!(
            filter_prefixes(&el),
            [
                vec!["interfaces", "ge-0/0/1"],
                vec!["interfaces", "ge-0/0/2"],
                vec!["protocols", "dot1x", "authenticator"]
            ]
        );
    }

    #[test]
    fn confirm_timeout_range() {
        let el = |t: &str| xml::parse(&format!("<confirm-timeout>{t}</confirm-timeout>")).unwrap();
        assert_eq!(confirm_minutes(None).unwrap(), 10);
        assert_eq!(confirm_minutes(Some(&el("65535"))).unwrap(), 65535);
        assert!(confirm_minutes(Some(&el("0"))).is_err());
        assert!(confirm_minutes(Some(&el("65536"))).is_err());
        assert!(confirm_minutes(Some(&el("x"))).is_err());
    }

    fn chunk(msg: &str) -> String {
        format!("\n#{}\n{msg}\n##\n", msg.len())
    }

    const HELLO11: &str = "<hello xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>]]>]]>";

    #[test]
    fn in_process_session_loads_diffs_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut input = HELLO11.to_string();
        for rpc in [
            "<rpc message-id=\"1\"><lock-configuration/></rpc>",
            "<rpc message-id=\"2\"><load-configuration action=\"set\" format=\"text\"><configuration-set>set vlans v vlan-id 3</configuration-set></load-configuration></rpc>",
            "<rpc message-id=\"3\"><get-configuration compare=\"rollback\" rollback=\"0\" format=\"text\"/></rpc>",
            "<rpc message-id=\"4\"><commit-configuration/></rpc>",
            "<rpc message-id=\"5\"><frobnicate/></rpc>",
        ] {
            input.push_str(&chunk(rpc));
        }
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out, &state, "alice").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(
                "[edit]\n+   vlans {\n+       v {\n+           vlan-id 3;\n+       }\n+   }"
            ),
            "{out}"
        );
        assert!(out.contains("<commit-success/>"), "{out}");
        assert!(out.contains("operation-not-supported"), "{out}");
        assert_eq!(
            state.running().unwrap().to_set_text(),
            "set vlans v vlan-id 3\n"
        );
        assert!(
            state.lock_holder().unwrap().is_none(),
            "EOF releases the lock"
        );
        assert_eq!(state.commit_log().unwrap()[0].user, "alice");
    }

    #[test]
    fn garbage_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let pieces = [
            "<rpc>",
            "</rpc>",
            "<lock/>",
            "\n#",
            "##",
            "]]>]]>",
            "<",
            "&",
            "\"",
            "9",
            "\n",
            "<commit-configuration>",
            "<![CDATA[",
            "\u{feff}",
            "<?xml?>",
        ];
        for _ in 0..300 {
            let mut input = HELLO11.to_string();
            for _ in 0..20 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                input.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let mut out = Vec::new();
            let _ = serve(input.as_bytes(), &mut out, &state, "fuzz");
            let _ = serve(
                &input.as_bytes()[HELLO11.len() - 3..],
                &mut out,
                &state,
                "fuzz",
            );
        }
        assert!(state.lock_holder().unwrap().is_none());
    }
}
