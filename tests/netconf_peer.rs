//! The NETCONF client against a real third-party server: yuma123 `netconfd` behind OpenSSH
//! (`scripts/netconf-peer.sh`, which lists the server's quirks). Everything here talks over
//! real SSH on 127.0.0.1; each test starts its own peer on a free port and stops it on drop.

#[path = "support/netconf_peer.rs"]
mod peer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mesa::backend::netconf::hostkey::HostKeyError;
use mesa::backend::netconf::junos::{lock_busy, lock_holder};
use mesa::backend::netconf::{Datastore, Framing, NetconfBackend, NetconfError, Session};
use mesa::backend::{BackendError, SwitchBackend};
use mesa::config::{HostKeyPolicy, NetconfConfig, Secret, SwitchOverride};
use mesa::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};
use mesa::templates::Templates;
use peer::start;

const HELLO_NS: &str = "http://helloworld.com/ns/helloworld";

fn hello_config(message: &str) -> String {
    format!(
        r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><helloworld xmlns="{HELLO_NS}"><message>{}</message></helloworld></config>"#,
        mesa::backend::netconf::rpc::escape(message)
    )
}

fn hello_filter() -> String {
    format!(r#"<helloworld xmlns="{HELLO_NS}"/>"#)
}

fn message_in(session: &mut Session, store: Datastore) -> Option<String> {
    let data = session
        .get_config(store, Some(&hello_filter()))
        .expect("get-config");
    data.path(&["helloworld", "message"]).map(|e| e.text())
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_007)
        .unwrap_or(0)
}

/// A large reply (the schema list), which yuma sends as many ~1986-byte chunks under 1.1.
const SCHEMAS: &str = r#"<get><filter type="subtree"><netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><schemas/></netconf-state></filter></get>"#;

#[test]
fn hello_negotiates_chunked_framing_and_reads_large_replies() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    assert_eq!(s.framing(), Framing::Chunked);
    assert!(s.session_id().is_some());
    assert!(s.has_capability("urn:ietf:params:netconf:capability:candidate:1.0"));
    let reply = s.rpc(SCHEMAS).expect("get schemas");
    assert!(
        reply.raw.len() > 3 * 1986,
        "expected a multi-chunk reply, got {} bytes",
        reply.raw.len()
    );
    let mut schemas = Vec::new();
    reply.root.find_all("schema", &mut schemas);
    assert!(schemas.len() > 5, "{} schemas", schemas.len());
    // Several RPCs on one session keep message-ids in step.
    for _ in 0..3 {
        assert!(s.rpc(SCHEMAS).is_ok());
    }
    s.close().expect("close-session");
}

#[test]
fn base10_is_used_when_only_base10_is_offered() {
    let peer = start();
    let mut opts = peer.options();
    opts.offer_base11 = false;
    let mut s = Session::connect(&opts).expect("connect");
    assert_eq!(s.framing(), Framing::EndOfMessage);
    let reply = s.rpc(SCHEMAS).expect("get schemas over base:1.0");
    assert!(reply.raw.len() > 3 * 1986);
    s.close().expect("close-session");
}

#[test]
fn lock_unlock_and_lock_held_by_another_session() {
    let peer = start();
    let mut first = Session::connect(&peer.options()).expect("connect 1");
    let mut second = Session::connect(&peer.options()).expect("connect 2");
    first.lock(Datastore::Candidate).expect("lock");
    let err = second
        .lock(Datastore::Candidate)
        .expect_err("second lock must be denied");
    let errors = err.rpc_errors().to_vec();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].tag.as_deref(), Some("lock-denied"));
    assert_eq!(errors[0].error_type.as_deref(), Some("protocol"));
    let holder = first.session_id().expect("session id").to_string();
    assert_eq!(errors[0].info("session-id"), Some(holder.as_str()));
    assert!(lock_busy(&errors));
    assert_eq!(
        lock_holder(&errors),
        format!("locked by NETCONF session {holder}")
    );
    first.unlock(Datastore::Candidate).expect("unlock");
    second
        .lock(Datastore::Candidate)
        .expect("lock after release");
    second.unlock(Datastore::Candidate).expect("unlock 2");
    first.close().expect("close 1");
    second.close().expect("close 2");
}

#[test]
fn edit_commit_and_read_back() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    let message = unique("hi <&> \"there\"");
    s.lock(Datastore::Candidate).expect("lock");
    s.edit_config(Datastore::Candidate, &hello_config(&message))
        .expect("edit-config");
    s.commit().expect("commit");
    s.unlock(Datastore::Candidate).expect("unlock");
    assert_eq!(
        message_in(&mut s, Datastore::Running).as_deref(),
        Some(message.as_str())
    );
    s.close().expect("close");
    // And from a new session.
    let mut again = Session::connect(&peer.options()).expect("reconnect");
    assert_eq!(
        message_in(&mut again, Datastore::Running).as_deref(),
        Some(message.as_str())
    );
    again.close().expect("close");
}

#[test]
fn validate_answers_ok() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    // Only the reply is asserted: yuma drops earlier candidate edits after a validate.
    assert!(s.validate(Datastore::Candidate).expect("validate").ok);
    s.discard_changes().expect("discard");
    s.close().expect("close");
}

#[test]
fn confirmed_commit_then_confirming_commit_sticks() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    let message = unique("confirmed");
    s.lock(Datastore::Candidate).expect("lock");
    s.edit_config(Datastore::Candidate, &hello_config(&message))
        .expect("edit");
    s.commit_confirmed(2).expect("confirmed commit (seconds)");
    s.commit().expect("confirming commit");
    s.unlock(Datastore::Candidate).expect("unlock");
    std::thread::sleep(Duration::from_millis(3_500));
    assert_eq!(
        message_in(&mut s, Datastore::Running).as_deref(),
        Some(message.as_str())
    );
    s.close().expect("close");
}

#[test]
fn unconfirmed_commit_rolls_back() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    let before = unique("baseline");
    s.lock(Datastore::Candidate).expect("lock");
    s.edit_config(Datastore::Candidate, &hello_config(&before))
        .expect("edit baseline");
    s.commit().expect("commit baseline");
    let tentative = unique("tentative");
    s.edit_config(Datastore::Candidate, &hello_config(&tentative))
        .expect("edit");
    s.commit_confirmed(2).expect("confirmed commit");
    assert_eq!(
        message_in(&mut s, Datastore::Running).as_deref(),
        Some(tentative.as_str())
    );
    // Released before the wait, as a real client would.
    s.unlock(Datastore::Candidate).expect("unlock");
    // No traffic while waiting: yuma checks the confirm timer when its event loop idles.
    let mut rolled_back = false;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(2_500));
        let now = message_in(&mut s, Datastore::Running);
        if now.as_deref() == Some(before.as_str()) {
            rolled_back = true;
            break;
        }
        assert_eq!(
            now.as_deref(),
            Some(tentative.as_str()),
            "running changed to something else"
        );
    }
    assert!(
        rolled_back,
        "running still has the unconfirmed change after 12 s"
    );
    s.close().expect("close");
}

#[test]
fn discard_changes_drops_candidate_edits() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    s.lock(Datastore::Candidate).expect("lock");
    let committed = message_in(&mut s, Datastore::Running);
    let draft = unique("draft");
    s.edit_config(Datastore::Candidate, &hello_config(&draft))
        .expect("edit");
    assert_eq!(
        message_in(&mut s, Datastore::Candidate).as_deref(),
        Some(draft.as_str())
    );
    s.discard_changes().expect("discard-changes");
    assert_eq!(message_in(&mut s, Datastore::Candidate), committed);
    s.unlock(Datastore::Candidate).expect("unlock");
    s.close().expect("close");
}

#[test]
fn rpc_error_is_parsed() {
    let peer = start();
    let mut s = Session::connect(&peer.options()).expect("connect");
    let bogus = r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><bogus xmlns="urn:example:nope"/></config>"#;
    let err = s
        .edit_config(Datastore::Candidate, bogus)
        .expect_err("unknown namespace must fail");
    let NetconfError::Rpc(errors) = &err else {
        panic!("expected rpc-error, got {err:?}")
    };
    assert_eq!(errors[0].tag.as_deref(), Some("unknown-namespace"), "{err}");
    assert!(errors[0].is_error());
    assert!(
        errors[0].info("bad-element").is_some(),
        "{:?}",
        errors[0].info
    );
    // An unknown operation is an error too, and the session stays usable.
    let err = s
        .rpc("<no-such-operation/>")
        .expect_err("unknown operation");
    assert!(!err.rpc_errors().is_empty(), "{err}");
    assert!(s.rpc(SCHEMAS).is_ok());
    s.discard_changes().expect("discard");
    s.close().expect("close");
}

#[test]
fn key_auth_and_password_auth() {
    let peer = start();
    let mut key = peer.options();
    key.credentials.password = None;
    key.credentials.private_key = Some(peer.key.clone());
    Session::connect(&key)
        .expect("key auth")
        .close()
        .expect("close");
    Session::connect(&peer.options())
        .expect("password auth")
        .close()
        .expect("close");

    let mut wrong = peer.options();
    wrong.credentials.password = Some("not-the-password".into());
    let err = Session::connect(&wrong).expect_err("wrong password");
    assert!(matches!(err, NetconfError::Auth(_)), "{err:?}");
}

#[test]
fn unreachable_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let peer = start();
    let mut opts = peer.options();
    opts.port = port;
    let err = Session::connect(&opts).expect_err("nothing listens");
    assert!(matches!(err, NetconfError::Unreachable(_)), "{err:?}");
}

#[test]
fn host_key_policies() {
    let peer = start();
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("known_hosts");

    // strict: an unknown host is refused.
    let mut opts = peer.options();
    opts.known_hosts = fresh.clone();
    let err = Session::connect(&opts).expect_err("strict refuses unknown");
    assert!(
        matches!(err, NetconfError::HostKey(HostKeyError::Unknown { .. })),
        "{err:?}"
    );

    // accept-new: recorded into the fresh file, in [host]:port form, then accepted.
    opts.host_key_policy = HostKeyPolicy::AcceptNew;
    Session::connect(&opts)
        .expect("accept-new accepts")
        .close()
        .expect("close");
    let recorded = std::fs::read_to_string(&fresh).expect("known_hosts written");
    let official = std::fs::read_to_string(&peer.known_hosts).expect("peer known_hosts");
    assert_eq!(
        recorded.trim(),
        official.trim(),
        "recorded entry differs from the server's key"
    );
    assert!(recorded.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", peer.port)));
    opts.host_key_policy = HostKeyPolicy::Strict;
    Session::connect(&opts)
        .expect("strict accepts a recorded key")
        .close()
        .expect("close");

    // A changed key (another ed25519 key for this host) is refused by strict and accept-new.
    let other_key =
        std::fs::read_to_string(peer.key.with_extension("pub")).expect("client public key");
    let mut fields = other_key.split_whitespace();
    let (kind, b64) = (fields.next().expect("type"), fields.next().expect("key"));
    let changed = dir.path().join("changed_known_hosts");
    std::fs::write(
        &changed,
        format!("# a comment\n[127.0.0.1]:{} {kind} {b64}\n", peer.port),
    )
    .expect("write");
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut opts = peer.options();
        opts.known_hosts = changed.clone();
        opts.host_key_policy = policy;
        let err = Session::connect(&opts).expect_err("changed key must be refused");
        assert!(
            matches!(err, NetconfError::HostKey(HostKeyError::Changed { .. })),
            "{policy:?}: {err:?}"
        );
    }
    assert!(std::fs::read_to_string(&changed)
        .expect("read")
        .starts_with("# a comment\n"));

    // off: no check at all.
    let mut opts = peer.options();
    opts.known_hosts = changed;
    opts.host_key_policy = HostKeyPolicy::Off;
    Session::connect(&opts)
        .expect("off")
        .close()
        .expect("close");
}

fn backend_for(peer: &peer::Peer, lock_timeout: Duration) -> NetconfBackend {
    let cfg = NetconfConfig {
        username: peer.user.clone(),
        password: Some(Secret::new(peer.password.clone())),
        known_hosts: peer.known_hosts.clone(),
        host_key_policy: HostKeyPolicy::Strict,
        lock_timeout: mesa::config::Duration(lock_timeout),
        rpc_timeout: mesa::config::Duration::from_secs(20),
        ..NetconfConfig::default()
    };
    let mut switches = BTreeMap::new();
    switches.insert(
        "sw-peer".to_string(),
        SwitchOverride {
            host: Some(peer.host.clone()),
            port: Some(peer.port),
        },
    );
    NetconfBackend::new(&cfg, &switches, Arc::new(Templates::default()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn change(port: &str) -> PortChange {
    PortChange {
        switch: SwitchRef {
            name: "sw-peer".into(),
            site_id: "site-1".into(),
            mac: None,
            mgmt_addr: Some("192.0.2.1".into()),
        },
        port: InterfaceName::parse(port).expect("port"),
        profile: Profile::Ap,
        ap: ApRef {
            mac: Mac::parse("5c5b35aabbcc").expect("mac"),
            name: Some("ap-01".into()),
        },
        site_name: None,
        reason: "AP_CONNECTED ap-01".into(),
    }
}

/// yuma is not Junos: `<load-configuration>` fails, which drives the "error while holding the
/// lock" path: the backend must report it and leave the candidate unlocked.
#[test]
fn backend_rejected_load_releases_the_lock() {
    let peer = start();
    let backend = backend_for(&peer, Duration::from_secs(5));
    let c = change("ge-0/0/12");
    let err = runtime()
        .block_on(backend.apply(&c.switch, std::slice::from_ref(&c)))
        .expect_err("yuma has no load-configuration");
    assert!(
        matches!(err, BackendError::Rejected(ref m) if m.starts_with("load-configuration")),
        "{err:?}"
    );
    let mut s = Session::connect(&peer.options()).expect("connect");
    s.lock(Datastore::Candidate)
        .expect("the backend left the candidate locked");
    s.unlock(Datastore::Candidate).expect("unlock");
    s.close().expect("close");
}

#[test]
fn backend_waits_for_lock_then_reports_holder() {
    let peer = start();
    let mut holder = Session::connect(&peer.options()).expect("connect");
    holder.lock(Datastore::Candidate).expect("lock");
    let id = holder.session_id().expect("id");
    let backend = backend_for(&peer, Duration::from_secs(2));
    let c = change("ge-0/0/13");
    let started = std::time::Instant::now();
    let err = runtime()
        .block_on(backend.apply(&c.switch, std::slice::from_ref(&c)))
        .expect_err("locked");
    assert_eq!(
        err,
        BackendError::Locked(format!("locked by NETCONF session {id} (waited 2s)"))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "gave up without retrying"
    );
    holder.unlock(Datastore::Candidate).expect("unlock");
    holder.close().expect("close");
}

#[test]
fn peer_stops_when_its_test_fails() {
    let (port, state) = std::thread::spawn(|| {
        let peer = start();
        let state = peer.key.parent().expect("state dir").to_path_buf();
        assert!(std::net::TcpStream::connect(("127.0.0.1", peer.port)).is_ok());
        // A failing test: the guard drops while unwinding.
        std::panic::panic_any((peer.port, state));
    })
    .join()
    .expect_err("the thread panics")
    .downcast::<(u16, std::path::PathBuf)>()
    .map(|b| *b)
    .expect("port and state dir");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "sshd still listens on {port}"
    );
    assert!(!state.exists(), "{} left behind", state.display());
}
