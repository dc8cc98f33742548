//! The Junos simulator driven through a real sshd and the real OpenSSH client (`ssh -s
//! netconf`), checked against real Junos reply shapes (`tests/fixtures/junos/`, real replies from
//! py-junos-eznc's test-suite) and Junos behaviour from Juniper's public documentation.

mod support;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesa::sim::junos::framing::{write_message, FrameReader, Framing};
use mesa::sim::junos::xml::{self, Element};
use mesa::sim::junos::{settle, CommitErrorFault, Faults};
use support::sshd::JunosSwitch;

const BASE10: &str = "urn:ietf:params:netconf:base:1.0";
const BASE11: &str = "urn:ietf:params:netconf:base:1.1";

const SECURED: &str = "set interfaces ge-0/0/12 description \"secured port\"\n\
set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode access\n\
set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members corp\n\
set vlans corp vlan-id 10\n\
set vlans ap-data vlan-id 20\n";

const AP_PROFILE: &str = "delete interfaces ge-0/0/12 description\n\
set interfaces ge-0/0/12 description \"AP port\"\n\
set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk\n\
delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members corp\n\
set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members ap-data\n";

/// Copies what it reads into `raw`, so tests can look at the framing bytes.
struct Tee<R> {
    inner: R,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.raw.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A NETCONF session through `ssh -s netconf`.
struct Nc {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Option<Vec<u8>>>,
    framing: Framing,
    raw: Arc<Mutex<Vec<u8>>>,
    hello: String,
    session_id: u32,
    next_id: u32,
}

impl Nc {
    fn open(sw: &JunosSwitch) -> Nc {
        Nc::open_with(sw, &[BASE10, BASE11])
    }

    fn open_with(sw: &JunosSwitch, caps: &[&str]) -> Nc {
        let mut child = sw
            .sshd
            .netconf_command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ssh");
        let stdout = child.stdout.take().unwrap();
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = channel();
        let (ftx, frx): (Sender<Framing>, Receiver<Framing>) = channel();
        let tee = Tee {
            inner: stdout,
            raw: raw.clone(),
        };
        std::thread::spawn(move || {
            let mut reader = FrameReader::new(tee);
            let _ = tx.send(reader.read_message().ok().flatten());
            let Ok(framing) = frx.recv() else { return };
            reader.set_framing(framing);
            loop {
                match reader.read_message() {
                    Ok(Some(m)) => {
                        if tx.send(Some(m)).is_err() {
                            return;
                        }
                    }
                    _ => {
                        let _ = tx.send(None);
                        return;
                    }
                }
            }
        });
        let hello = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no server hello; sshd log:\n{}", sw.sshd.log()));
        let hello = String::from_utf8(hello).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let caps_xml: String = caps
            .iter()
            .map(|c| format!("<capability>{c}</capability>"))
            .collect();
        write!(
            stdin,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hello xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><capabilities>{caps_xml}</capabilities></hello>]]>]]>"
        )
        .unwrap();
        stdin.flush().unwrap();
        let framing = if hello.contains(BASE11) && caps.contains(&BASE11) {
            Framing::Chunked
        } else {
            Framing::EndOfMessage
        };
        ftx.send(framing).unwrap();
        let session_id = xml::parse(&hello)
            .unwrap()
            .child("session-id")
            .unwrap()
            .trimmed_text()
            .parse()
            .unwrap();
        Nc {
            child,
            stdin: Some(stdin),
            rx,
            framing,
            raw,
            hello,
            session_id,
            next_id: 100,
        }
    }

    fn send(&mut self, msg: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        write_message(stdin, self.framing, msg.as_bytes()).unwrap();
    }

    /// The next reply, or `None` when the server closed the session.
    fn recv(&mut self) -> Option<String> {
        self.rx
            .recv_timeout(Duration::from_secs(30))
            .expect("no reply within 30 s")
            .map(|m| String::from_utf8(m).unwrap())
    }

    fn rpc(&mut self, body: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&format!(
            "<rpc message-id=\"{id}\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">{body}</rpc>"
        ));
        let reply = self.recv().expect("session closed instead of replying");
        assert!(reply.contains(&format!("message-id=\"{id}\"")), "{reply}");
        reply
    }

    fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    fn lock(&mut self) -> String {
        self.rpc("<lock><target><candidate/></target></lock>")
    }

    fn load(&mut self, set_text: &str) -> String {
        self.rpc(&format!(
            "<load-configuration action=\"set\" format=\"text\"><configuration-set>{}</configuration-set></load-configuration>",
            xml::escape(set_text)
        ))
    }

    fn diff(&mut self) -> String {
        let reply =
            self.rpc("<get-configuration compare=\"rollback\" rollback=\"0\" format=\"text\"/>");
        let el = xml::parse(&reply).unwrap();
        el.child("configuration-information")
            .and_then(|c| c.child("configuration-output"))
            .unwrap_or_else(|| panic!("{reply}"))
            .text
            .trim_start_matches('\n')
            .to_string()
    }

    /// Ends the connection abruptly, as a crashed client or a cut network would.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(reply: &str) -> Element {
    xml::parse(reply).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

/// Element names (as written) without text: `a(b,c(d))`.
fn shape(el: &Element) -> String {
    if el.children.is_empty() {
        el.qname.clone()
    } else {
        let inner: Vec<String> = el.children.iter().map(shape).collect();
        format!("{}({})", el.qname, inner.join(","))
    }
}

fn fixture(name: &str) -> Element {
    let path = format!("{}/tests/fixtures/junos/{name}", env!("CARGO_MANIFEST_DIR"));
    parse(&std::fs::read_to_string(path).unwrap())
}

fn rpc_error_message(reply: &str) -> String {
    let el = parse(reply);
    let err = el
        .child("rpc-error")
        .unwrap_or_else(|| panic!("no rpc-error: {reply}"));
    err.child("error-message").unwrap().text.clone()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn hello_offers_both_bases_and_chunked_framing_is_used_with_base11() {
    let sw = JunosSwitch::start();
    let mut nc = Nc::open(&sw);
    let hello = parse(&nc.hello);
    assert_eq!(hello.name, "hello");
    let caps: Vec<&str> = hello
        .child("capabilities")
        .unwrap()
        .children
        .iter()
        .map(|c| c.trimmed_text())
        .collect();
    for cap in [BASE10, BASE11, "http://xml.juniper.net/netconf/junos/1.0"] {
        assert!(caps.contains(&cap), "{caps:?}");
    }
    assert!(nc.session_id > 0);
    assert!(String::from_utf8(nc.raw()).unwrap().contains("]]>]]>"));
    let reply = nc.rpc("<discard-changes/>");
    let root = parse(&reply);
    assert_eq!(root.name, "rpc-reply");
    assert_eq!(
        root.attr("xmlns"),
        Some("urn:ietf:params:xml:ns:netconf:base:1.0")
    );
    assert!(root
        .attr("xmlns:junos")
        .unwrap()
        .starts_with("http://xml.juniper.net/junos/"));
    assert!(root.child("ok").is_some(), "{reply}");
    let raw = String::from_utf8(nc.raw()).unwrap();
    let after_hello = &raw[raw.find("]]>]]>").unwrap() + 6..];
    assert!(after_hello.trim_start().starts_with('#'), "{after_hello:?}");
    assert!(after_hello.ends_with("\n##\n"), "{after_hello:?}");
    assert!(nc.rpc("<close-session/>").contains("<ok/>"));
    assert!(
        nc.recv().is_none(),
        "session should end after close-session"
    );
}

#[test]
fn base10_client_and_base10_only_switch_use_end_of_message_framing() {
    let sw = JunosSwitch::start();
    let mut nc = Nc::open_with(&sw, &[BASE10]);
    nc.rpc("<discard-changes/>");
    assert!(String::from_utf8(nc.raw())
        .unwrap()
        .trim_end()
        .ends_with("</rpc-reply>\n]]>]]>"));

    sw.set_faults(Faults {
        base10_only: true,
        ..Faults::default()
    });
    let mut old = Nc::open(&sw);
    assert!(!old.hello.contains(BASE11), "{}", old.hello);
    assert_eq!(old.framing, Framing::EndOfMessage);
    assert!(old.rpc("<discard-changes/>").contains("<ok/>"));
}

#[test]
fn load_set_and_delete_warn_diff_check_and_commit_with_log() {
    let sw = JunosSwitch::start();
    sw.seed_running(SECURED);
    let mut nc = Nc::open(&sw);
    assert!(nc.lock().contains("<ok/>"));

    let reply = nc.load(&format!(
        "{AP_PROFILE}delete interfaces ge-0/0/13 description\n"
    ));
    let results = parse(&reply);
    let results = results.child("load-configuration-results").unwrap();
    assert!(results.child("load-success").is_some(), "{reply}");
    let warning = results.child("rpc-error").unwrap();
    assert_eq!(
        warning.child("error-severity").unwrap().trimmed_text(),
        "warning"
    );
    assert_eq!(
        warning.child("error-message").unwrap().trimmed_text(),
        "statement not found"
    );

    let diff = nc.diff();
    assert_eq!(
        diff,
        "[edit interfaces ge-0/0/12]\n\
         -   description \"secured port\";\n\
         +   description \"AP port\";\n\
         [edit interfaces ge-0/0/12 unit 0 family ethernet-switching]\n\
         -   interface-mode access;\n\
         +   interface-mode trunk;\n\
         [edit interfaces ge-0/0/12 unit 0 family ethernet-switching vlan]\n\
         -   members corp;\n\
         +   members ap-data;\n"
    );

    let check = nc.rpc("<commit-configuration><check/></commit-configuration>");
    assert_eq!(
        shape(parse(&check).child("commit-results").unwrap()),
        "commit-results(routing-engine(name,commit-check-success))"
    );
    assert_eq!(sw.running_config(), SECURED, "check must not commit");

    let commit = nc.rpc("<commit-configuration><log>mesa: ge-0/0/12 -> ap (AP_CONNECTED)</log></commit-configuration>");
    let results = parse(&commit);
    let results = results.child("commit-results").unwrap();
    assert_eq!(
        shape(results),
        "commit-results(routing-engine(name,commit-success))"
    );
    assert_eq!(
        results
            .child("routing-engine")
            .unwrap()
            .child("name")
            .unwrap()
            .trimmed_text(),
        "re0"
    );
    assert_eq!(nc.diff(), "", "no diff after commit");
    assert!(nc
        .rpc("<unlock><target><candidate/></target></unlock>")
        .contains("<ok/>"));

    let running = sw.running_config();
    assert!(running.contains("interface-mode trunk"), "{running}");
    assert!(running.contains("description \"AP port\""), "{running}");
    assert!(!running.contains("members corp"), "{running}");

    let log = sw.commit_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].kind, "commit");
    assert_eq!(
        log[0].log.as_deref(),
        Some("mesa: ge-0/0/12 -> ap (AP_CONNECTED)")
    );
    assert_eq!(log[0].session, nc.session_id);
    assert_eq!(log[0].user, sw.sshd.user);
    assert!(!log[0].confirmed);
    assert_eq!((log[0].lines_added, log[0].lines_removed), (3, 3));

    // Read back, as a careful client does: committed database, set format, one port.
    let back = nc.rpc("<get-configuration database=\"committed\" format=\"set\"><configuration><interfaces><interface><name>ge-0/0/12</name></interface></interfaces></configuration></get-configuration>");
    let set = parse(&back)
        .child("configuration-set")
        .unwrap()
        .text
        .clone();
    assert!(
        set.contains(
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk"
        ),
        "{set}"
    );
    assert!(!set.contains("vlans"), "{set}");
    let text = nc.rpc("<get-configuration format=\"text\" database=\"committed\"/>");
    assert!(parse(&text)
        .child("configuration-text")
        .unwrap()
        .text
        .contains("interface-mode trunk;"));
}

#[test]
fn confirmed_commit_is_confirmed_by_the_next_commit() {
    let sw = JunosSwitch::start_with_faults(Faults {
        minute_secs: Some(1),
        ..Faults::default()
    });
    sw.seed_running(SECURED);
    let mut nc = Nc::open(&sw);
    nc.lock();
    nc.load(AP_PROFILE);
    let reply = nc.rpc("<commit-configuration><confirmed/><confirm-timeout>2</confirm-timeout><log>try</log></commit-configuration>");
    assert!(reply.contains("<commit-success/>"), "{reply}");
    assert!(sw.state.pending_confirm().unwrap().is_some());
    let reply = nc.rpc("<commit-configuration><log>confirm</log></commit-configuration>");
    assert!(reply.contains("<commit-success/>"), "{reply}");
    assert!(sw.state.pending_confirm().unwrap().is_none());
    std::thread::sleep(Duration::from_millis(2300));
    assert!(
        !settle(&sw.state).unwrap(),
        "a confirmed commit must not roll back"
    );
    assert!(sw.running_config().contains("interface-mode trunk"));
    let log = sw.commit_log();
    assert_eq!(log.len(), 2);
    assert!(log[0].confirmed);
    assert_eq!(log[0].confirm_minutes, Some(2));
    assert!(!log[1].confirmed);
}

#[test]
fn unconfirmed_commit_rolls_back_after_its_minutes_even_without_a_session() {
    let sw = JunosSwitch::start_with_faults(Faults {
        minute_secs: Some(1),
        ..Faults::default()
    });
    sw.seed_running(SECURED);
    let mut nc = Nc::open(&sw);
    for bad in ["0", "65536", "soon"] {
        let reply = nc.rpc(&format!(
            "<commit-configuration><confirmed/><confirm-timeout>{bad}</confirm-timeout></commit-configuration>"
        ));
        assert!(reply.contains("<rpc-error>"), "{bad}: {reply}");
    }
    nc.lock();
    nc.load(AP_PROFILE);
    let started = Instant::now();
    let reply = nc.rpc("<commit-configuration><confirmed/><confirm-timeout>1</confirm-timeout></commit-configuration>");
    assert!(reply.contains("<commit-success/>"), "{reply}");
    assert!(sw.running_config().contains("interface-mode trunk"));
    nc.rpc("<unlock><target><candidate/></target></unlock>");
    drop(nc);
    wait_until("the rollback", || settle(&sw.state).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(sw.running_config(), SECURED);
    assert_eq!(sw.candidate_config(), SECURED);
    let log = sw.commit_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].kind, "rollback");
    assert_eq!((log[1].lines_added, log[1].lines_removed), (3, 3));
}

#[test]
fn lock_contention_returns_the_junos_message() {
    let sw = JunosSwitch::start();
    let mut a = Nc::open(&sw);
    let mut b = Nc::open(&sw);
    assert!(a.lock().contains("<ok/>"));
    let reply = b.lock();
    let el = parse(&reply);
    let err = el.child("rpc-error").unwrap();
    assert_eq!(
        err.child("error-tag").unwrap().trimmed_text(),
        "lock-denied"
    );
    assert_eq!(err.child("error-severity").unwrap().trimmed_text(), "error");
    assert_eq!(
        err.child("error-info")
            .unwrap()
            .child("session-id")
            .unwrap()
            .trimmed_text(),
        a.session_id.to_string()
    );
    let msg = err
        .child("error-message")
        .unwrap()
        .trimmed_text()
        .to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    assert_eq!(lines[0], "configuration database locked by:");
    let prefix = format!("  {} terminal  (pid ", sw.sshd.user);
    assert!(lines[1].starts_with(&prefix), "{msg}");
    let (_, rest) = lines[1].split_once(") on since ").unwrap();
    let (since, idle) = rest.split_once(" UTC, idle ").unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(since, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{msg}"
    );
    assert_eq!(idle.len(), 8, "{msg}");
    assert_eq!(lines[2], "      exclusive");
    // Editing and committing are refused too while a holds the lock.
    assert!(b.load("set vlans x vlan-id 5").contains("lock-denied"));
    assert!(b.rpc("<commit-configuration/>").contains("lock-denied"));
    a.rpc("<unlock><target><candidate/></target></unlock>");
    assert!(b.lock().contains("<ok/>"));
}

#[test]
fn someone_elses_uncommitted_changes_block_the_lock_until_discarded() {
    let sw = JunosSwitch::start();
    let mut a = Nc::open(&sw);
    a.load("set vlans x vlan-id 5");
    let mut b = Nc::open(&sw);
    assert_eq!(
        rpc_error_message(&b.lock()).trim(),
        "configuration database modified"
    );
    assert!(
        a.lock().contains("<ok/>"),
        "the author of the changes may lock"
    );
    a.rpc("<unlock><target><candidate/></target></unlock>");
    b.rpc("<discard-changes/>");
    assert!(b.lock().contains("<ok/>"));
    assert_eq!(sw.candidate_config(), "");
}

#[test]
fn dropped_session_releases_its_lock_and_the_changes_made_under_it() {
    // Junos `<lock>` reference: "If the NETCONF session ends or the application emits the
    // <unlock> tag element before the candidate configuration is committed, all changes made
    // to the candidate are discarded."
    let sw = JunosSwitch::start();
    let mut a = Nc::open(&sw);
    a.lock();
    a.load("set vlans x vlan-id 5");
    assert!(sw.state.lock_holder().unwrap().is_some());
    a.kill();
    wait_until("the lock to be released", || {
        sw.state.lock_holder().unwrap().is_none()
    });
    assert_eq!(sw.candidate_config(), "");
    let mut b = Nc::open(&sw);
    assert!(b.lock().contains("<ok/>"));
    b.rpc("<unlock><target><candidate/></target></unlock>");

    // Without the lock (shared `configure`), the changes outlive the session.
    let mut c = Nc::open(&sw);
    c.load("set vlans y vlan-id 6");
    c.kill();
    let mut d = Nc::open(&sw);
    assert_eq!(
        rpc_error_message(&d.lock()).trim(),
        "configuration database modified"
    );
    assert_eq!(sw.candidate_config(), "set vlans y vlan-id 6\n");
}

#[test]
fn commit_error_has_the_junos_shape_and_leaves_running_alone() {
    let sw = JunosSwitch::start_with_faults(Faults {
        commit_error: Some(CommitErrorFault {
            message: "Only unit 0 is valid for this encapsulation".into(),
            edit_path: Some("[edit interfaces ge-0/0/1]".into()),
            statement: Some("unit 2".into()),
            remaining: 1,
        }),
        ..Faults::default()
    });
    let mut nc = Nc::open(&sw);
    nc.lock();
    nc.load("set vlans x vlan-id 5");
    let check = nc.rpc("<commit-configuration><check/></commit-configuration>");
    assert!(check.contains("xnm:error"), "check reports it: {check}");
    let reply = nc.rpc("<commit-configuration/>");
    let ours = parse(&reply);
    let theirs = fixture("get-rpc-error.xml");
    let ours_results = ours.child("commit-results").unwrap();
    let theirs_results = theirs.child("commit-results").unwrap();
    assert_eq!(shape(ours_results), shape(theirs_results));
    for (o, t) in ours_results.children.iter().zip(&theirs_results.children) {
        assert_eq!(o.attrs, t.attrs, "xnm:error namespaces");
    }
    let first = &ours_results.children[0];
    assert_eq!(
        first.child("message").unwrap().trimmed_text(),
        "Only unit 0 is valid for this encapsulation"
    );
    assert_eq!(
        first.child("edit-path").unwrap().trimmed_text(),
        "[edit interfaces ge-0/0/1]"
    );
    assert_eq!(sw.running_config(), "");
    assert!(sw.commit_log().is_empty());
    let again = nc.rpc("<commit-configuration/>");
    assert!(
        again.contains("<commit-success/>"),
        "only one commit fails: {again}"
    );
    assert_eq!(sw.running_config(), "set vlans x vlan-id 5\n");
}

#[test]
fn load_errors_have_the_junos_shape_and_rejected_lines_are_skipped() {
    let sw = JunosSwitch::start();
    let mut nc = Nc::open(&sw);
    let reply = nc.load("set system1 host-name x\n}\n");
    let ours = parse(&reply);
    let theirs = fixture("load-configuration-error.xml");
    assert_eq!(
        shape(ours.child("load-configuration-results").unwrap()),
        shape(theirs.child("load-configuration-results").unwrap())
    );
    let err = ours
        .child("load-configuration-results")
        .unwrap()
        .child("rpc-error")
        .unwrap();
    assert_eq!(
        err.child("error-info")
            .unwrap()
            .child("bad-element")
            .unwrap()
            .trimmed_text(),
        "system1"
    );
    assert_eq!(
        err.child("error-message").unwrap().trimmed_text(),
        "syntax error"
    );

    sw.set_faults(Faults {
        reject_line_containing: Some("vlan-id 5000".into()),
        reject_message: Some("Value 5000 is not within range (1..4094)".into()),
        ..Faults::default()
    });
    let reply = nc.load("set vlans a vlan-id 5000\nset vlans b vlan-id 7\n");
    let el = parse(&reply);
    let results = el.child("load-configuration-results").unwrap();
    assert!(results.child("load-success").is_none());
    assert_eq!(
        results
            .child("rpc-error")
            .unwrap()
            .child("error-message")
            .unwrap()
            .trimmed_text(),
        "Value 5000 is not within range (1..4094)"
    );
    // As on Junos, the good lines of a `set` load are in the candidate: discard before unlock.
    assert_eq!(sw.candidate_config(), "set vlans b vlan-id 7\n");
}

#[test]
fn top_level_rpc_errors_have_the_junos_shape() {
    let sw = JunosSwitch::start();
    let mut nc = Nc::open(&sw);
    let theirs = fixture("utils__commit-configuration.xml");
    let want = shape(theirs.child("rpc-error").unwrap());
    let reply = nc.rpc("<get-bogus-information/>");
    let ours = parse(&reply);
    let err = ours.child("rpc-error").unwrap();
    assert_eq!(
        err.child("error-tag").unwrap().trimmed_text(),
        "operation-not-supported"
    );
    let no_info = Element {
        children: err
            .children
            .iter()
            .filter(|c| c.name != "error-info")
            .cloned()
            .collect(),
        ..err.clone()
    };
    assert_eq!(shape(&no_info), want);
    // Broken XML gets an rpc-error and the session goes on.
    nc.send("<rpc message-id=\"x\"><lock>");
    assert!(nc.recv().unwrap().contains("malformed-message"));
    assert!(nc.rpc("<discard-changes/>").contains("<ok/>"));
}

#[test]
fn ex3400_unlock_error_after_an_applied_commit() {
    let sw = JunosSwitch::start_with_faults(Faults {
        unlock_error_after_commit: true,
        ..Faults::default()
    });
    let mut nc = Nc::open(&sw);
    nc.lock();
    nc.load("set vlans x vlan-id 5");
    assert!(nc
        .rpc("<commit-configuration/>")
        .contains("<commit-success/>"));
    let reply = nc.rpc("<unlock><target><candidate/></target></unlock>");
    assert!(reply.contains("<rpc-error>"), "{reply}");
    assert_eq!(
        sw.running_config(),
        "set vlans x vlan-id 5\n",
        "the commit is applied"
    );
    let mut other = Nc::open(&sw);
    assert!(other.lock().contains("<ok/>"), "and the lock is gone");
}

#[test]
fn drop_during_commit_applies_the_commit_then_closes_the_connection() {
    let sw = JunosSwitch::start_with_faults(Faults {
        drop_during_commit: 1,
        commit_delay_ms: 200,
        ..Faults::default()
    });
    let mut nc = Nc::open(&sw);
    nc.lock();
    nc.load("set vlans x vlan-id 5");
    nc.next_id += 1;
    nc.send("<rpc message-id=\"1\"><commit-configuration><log>lost reply</log></commit-configuration></rpc>");
    assert!(
        nc.recv().is_none(),
        "the connection must drop instead of replying"
    );
    assert_eq!(sw.running_config(), "set vlans x vlan-id 5\n");
    assert_eq!(sw.commit_log()[0].log.as_deref(), Some("lost reply"));
    wait_until("the lock to be released", || {
        sw.state.lock_holder().unwrap().is_none()
    });
    let mut again = Nc::open(&sw);
    assert!(again.lock().contains("<ok/>"));
    assert!(
        again
            .rpc("<commit-configuration/>")
            .contains("<commit-success/>"),
        "only one commit drops"
    );
}

#[test]
fn kill_session_ends_the_other_session_and_frees_the_lock() {
    let sw = JunosSwitch::start();
    let mut a = Nc::open(&sw);
    let mut b = Nc::open(&sw);
    a.lock();
    let reply = b.rpc(&format!(
        "<kill-session><session-id>{}</session-id></kill-session>",
        a.session_id
    ));
    assert!(reply.contains("<ok/>"), "{reply}");
    assert!(b.lock().contains("<ok/>"));
    assert!(a.recv().is_none(), "killed session is disconnected");
}
