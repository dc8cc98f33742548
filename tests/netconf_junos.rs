//! The NETCONF backend's Junos change sequence (lock → load set → diff → commit check →
//! confirmed commit → confirming commit → unlock, with its recovery rules) against the Junos
//! simulator behind a real OpenSSH sshd (`support::sshd::JunosSwitch`), and mesa end to end:
//! signed Mist webhook over HTTP → engine → NETCONF → the simulated switch.
//!
//! Junos behaviour the assertions rely on is from Juniper's public documentation (confirm-timeout
//! in minutes, `configuration database locked by` / `modified`, EX3400 unlock error, base:1.0
//! hellos) and the Junos `<lock>` reference (changes made under a lock are discarded when it
//! is released).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesa::backend::netconf::{Datastore, Framing, NetconfBackend, Session};
use mesa::backend::{BackendError, PortResult, SwitchBackend};
use mesa::config::{HostKeyPolicy, NetconfConfig, SwitchOverride, TemplatesConfig};
use mesa::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};
use mesa::sim::junos::{settle, CommitErrorFault, CommitLogEntry, Faults};
use mesa::sim::mist::FakeMist;
use mesa::templates::Templates;
use support::sshd::JunosSwitch;

const SWITCH: &str = "sw-idf-1";
const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

fn port(i: u32) -> InterfaceName {
    InterfaceName::parse(&format!("ge-0/0/{i}")).unwrap()
}

fn switch_ref() -> SwitchRef {
    SwitchRef {
        name: SWITCH.into(),
        site_id: SITE.into(),
        mac: None,
        mgmt_addr: Some("192.0.2.1".into()),
    }
}

fn change(i: u32, profile: Profile) -> PortChange {
    PortChange {
        switch: switch_ref(),
        port: port(i),
        profile,
        ap: ApRef {
            mac: Mac::parse(&format!("5c5b35{i:06x}")).unwrap(),
            name: Some(format!("ap-{i:02}")),
        },
        site_name: Some("HQ".into()),
        reason: format!(
            "{} ap-{i:02}",
            match profile {
                Profile::Ap => "AP_CONNECTED",
                Profile::Secured => "AP_DISCONNECTED",
            }
        ),
    }
}

/// The `[backend.netconf]` section pointing at the harness (key login, strict known_hosts).
fn netconf_config(sw: &JunosSwitch) -> NetconfConfig {
    NetconfConfig {
        username: sw.sshd.user.clone(),
        private_key: Some(sw.sshd.key_path.clone()),
        known_hosts: sw.sshd.known_hosts_path.clone(),
        host_key_policy: HostKeyPolicy::Strict,
        connect_timeout: mesa::config::Duration::from_secs(10),
        rpc_timeout: mesa::config::Duration::from_secs(30),
        lock_timeout: mesa::config::Duration::from_secs(5),
        commit_confirm: mesa::config::Duration::from_secs(60),
        ..NetconfConfig::default()
    }
}

/// `[switches."sw-idf-1"]`: the harness address instead of the LLDP management address.
fn overrides(sw: &JunosSwitch) -> BTreeMap<String, SwitchOverride> {
    let mut switches = BTreeMap::new();
    switches.insert(
        SWITCH.to_string(),
        SwitchOverride {
            host: Some(sw.sshd.host.clone()),
            port: Some(sw.sshd.port),
        },
    );
    switches
}

fn templates() -> Arc<Templates> {
    let mut cfg = TemplatesConfig::default();
    cfg.vars.insert(
        "ap_vlans".into(),
        toml::Value::Array(vec![toml::Value::Integer(10), toml::Value::Integer(20)]),
    );
    Arc::new(Templates::load(&cfg).expect("templates"))
}

fn backend_with(sw: &JunosSwitch, tweak: impl FnOnce(&mut NetconfConfig)) -> NetconfBackend {
    let mut cfg = netconf_config(sw);
    tweak(&mut cfg);
    NetconfBackend::new(&cfg, &overrides(sw), templates())
}

fn backend(sw: &JunosSwitch) -> NetconfBackend {
    backend_with(sw, |_| {})
}

/// A switch booted with ports 0..16 secured and the VLANs the templates name.
fn seeded(faults: Faults) -> JunosSwitch {
    let sw = JunosSwitch::start_with_faults(faults);
    let b = backend(&sw);
    let changes: Vec<PortChange> = (0..16).map(|i| change(i, Profile::Secured)).collect();
    let mut text = String::from(
        "set system host-name sw-idf-1\nset vlans default vlan-id 1\nset vlans ap-mgmt vlan-id 10\n\
         set vlans ap-data vlan-id 20\nset vlans guest vlan-id 99\nset vlans server-fail vlan-id 98\n",
    );
    for p in b.plan(&switch_ref(), &changes).expect("plan").ports {
        for line in p.lines.iter().filter(|l| l.starts_with("set ")) {
            text.push_str(line);
            text.push('\n');
        }
    }
    sw.seed_running(&text);
    sw
}

/// The rendered `set` lines of one change.
fn set_lines(b: &NetconfBackend, c: &PortChange) -> Vec<String> {
    b.plan(&switch_ref(), std::slice::from_ref(c))
        .expect("plan")
        .ports[0]
        .lines
        .iter()
        .filter(|l| l.starts_with("set "))
        .cloned()
        .collect()
}

fn assert_has_lines(config: &str, lines: &[String]) {
    let have: Vec<&str> = config.lines().collect();
    for line in lines {
        assert!(
            have.contains(&line.as_str()),
            "missing {line:?} in\n{config}"
        );
    }
}

fn sorted(config: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = config.lines().collect();
    lines.sort_unstable();
    lines
}

/// The port names a diff mentions (as whole words, so ge-0/0/1 is not found in ge-0/0/10).
fn ports_named(diff: &str) -> Vec<String> {
    let mut out: Vec<String> = diff
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| "[]{};\"+-!".contains(c)))
        .filter(|t| t.starts_with("ge-"))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The switch is left clean: candidate equal to running, no lock, no pending confirmation.
fn assert_clean(sw: &JunosSwitch) {
    assert_eq!(
        sw.candidate_config(),
        sw.running_config(),
        "candidate clean"
    );
    assert!(sw.state.lock_holder().unwrap().is_none(), "lock released");
    assert!(
        sw.state.pending_confirm().unwrap().is_none(),
        "no confirmed commit left unconfirmed"
    );
}

/// One confirmed commit with our log and whole minutes, then the confirming commit.
fn assert_one_confirmed_commit(log: &[CommitLogEntry], minutes: u32) {
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0].kind, "commit");
    assert!(log[0].confirmed, "{log:#?}");
    assert_eq!(log[0].confirm_minutes, Some(minutes));
    assert!(
        log[0]
            .log
            .as_deref()
            .is_some_and(|l| l.starts_with("mesa: ")),
        "{log:#?}"
    );
    assert!(log[0].lines_added > 0);
    assert_eq!(log[1].kind, "commit");
    assert!(!log[1].confirmed, "the second commit confirms: {log:#?}");
    assert_eq!((log[1].lines_added, log[1].lines_removed), (0, 0));
}

/// Waits until the sim has no session left (a dropped or timed-out session's process ends
/// when its pending work does).
fn wait_sessions_gone(sw: &JunosSwitch) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while sw.state.lock_holder().unwrap().is_some() {
        assert!(Instant::now() < deadline, "lock never released");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn ap_then_same_again_then_secured() {
    let sw = seeded(Faults::default());
    let before = sw.running_config();
    let b = backend(&sw);
    let ap = change(5, Profile::Ap);

    let results = b
        .apply(&switch_ref(), std::slice::from_ref(&ap))
        .await
        .expect("apply AP");
    assert_eq!(results.len(), 1);
    assert!(results[0].changed);
    assert_eq!(results[0].port, port(5));
    assert!(!results[0].diff.trim().is_empty());
    assert!(
        results[0].diff.contains("interface-mode trunk"),
        "{}",
        results[0].diff
    );
    assert_eq!(ports_named(&results[0].diff), ["ge-0/0/5"]);
    let running = sw.running_config();
    assert_has_lines(&running, &set_lines(&b, &ap));
    assert!(!running.contains("dot1x authenticator interface ge-0/0/5 "));
    assert!(running.contains("dot1x authenticator interface ge-0/0/4 "));
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert!(sw.commit_log()[0]
        .log
        .as_deref()
        .unwrap()
        .contains("AP_CONNECTED ap-05"));
    assert_clean(&sw);

    // Again: nothing to do, no commit.
    let again = b
        .apply(&switch_ref(), std::slice::from_ref(&ap))
        .await
        .expect("again");
    assert_eq!(
        again,
        vec![PortResult {
            port: port(5),
            changed: false,
            diff: String::new()
        }]
    );
    assert_eq!(sw.commit_log().len(), 2, "no new commit");
    assert_eq!(sw.running_config(), running);
    assert_clean(&sw);

    // Back to secured: the AP lines are gone, the dot1x lines are back.
    let secured = change(5, Profile::Secured);
    let results = b
        .apply(&switch_ref(), std::slice::from_ref(&secured))
        .await
        .expect("secured");
    assert!(results[0].changed);
    let running = sw.running_config();
    assert_has_lines(&running, &set_lines(&b, &secured));
    for gone in [
        "set interfaces ge-0/0/5 native-vlan-id",
        "set interfaces ge-0/0/5 unit 0 family ethernet-switching interface-mode trunk",
        "set interfaces ge-0/0/5 unit 0 family ethernet-switching vlan members",
    ] {
        assert!(!running.contains(gone), "{gone} still in\n{running}");
    }
    assert_eq!(
        sorted(&running),
        sorted(&before),
        "secured again is the boot configuration (statement order aside)"
    );
    assert_eq!(sw.commit_log().len(), 4);
    assert_clean(&sw);
}

#[tokio::test]
async fn twelve_ports_one_commit_and_a_diff_per_port() {
    let sw = seeded(Faults::default());
    let b = backend(&sw);
    let changes: Vec<PortChange> = (0..12).map(|i| change(i, Profile::Ap)).collect();
    let results = b.apply(&switch_ref(), &changes).await.expect("apply 12");
    assert_eq!(results.len(), 12);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.port, port(i as u32));
        assert!(r.changed, "{}: {}", r.port, r.diff);
        assert_eq!(
            ports_named(&r.diff),
            [r.port.as_str().to_string()],
            "diff of {} names other ports:\n{}",
            r.port,
            r.diff
        );
    }
    let running = sw.running_config();
    for c in &changes {
        assert_has_lines(&running, &set_lines(&b, c));
    }
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert_clean(&sw);
}

#[tokio::test]
async fn rejected_line_is_discarded_with_the_rest() {
    let sw = seeded(Faults {
        reject_line_containing: Some("native-vlan-id".into()),
        reject_message: Some("syntax error".into()),
        ..Faults::default()
    });
    let before = sw.running_config();
    let err = backend(&sw)
        .apply(&switch_ref(), &[change(3, Profile::Ap)])
        .await
        .expect_err("load error");
    match &err {
        BackendError::Rejected(m) => {
            assert!(m.contains("syntax error"), "{m}");
            assert!(m.contains("native-vlan-id"), "{m}");
            assert!(!m.contains('\n'), "{m:?}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(sw.commit_log().is_empty(), "no commit");
    assert_eq!(sw.running_config(), before);
    assert_clean(&sw);
}

#[tokio::test]
async fn commit_error_is_discarded_and_running_unchanged() {
    let sw = seeded(Faults {
        commit_error: Some(CommitErrorFault {
            message: "Interface must be defined in [edit vlans]".into(),
            edit_path: Some("[edit interfaces ge-0/0/3]".into()),
            statement: Some("native-vlan-id 1;".into()),
            remaining: 1,
        }),
        ..Faults::default()
    });
    let before = sw.running_config();
    let err = backend(&sw)
        .apply(&switch_ref(), &[change(3, Profile::Ap)])
        .await
        .expect_err("commit error");
    match &err {
        BackendError::Commit(m) => {
            assert!(m.contains("Interface must be defined"), "{m}");
            assert!(m.contains("configuration check-out failed"), "{m}");
        }
        other => panic!("expected Commit, got {other:?}"),
    }
    assert!(sw.commit_log().is_empty(), "no commit");
    assert_eq!(sw.running_config(), before);
    assert_clean(&sw);
}

/// Another NETCONF session holding the candidate lock for `hold`.
fn hold_lock(b: &NetconfBackend, hold: Duration) -> std::thread::JoinHandle<()> {
    let opts = b.connect_options(&switch_ref());
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut s = Session::connect(&opts).expect("holder connects");
        s.lock(Datastore::Candidate).expect("holder locks");
        tx.send(()).unwrap();
        std::thread::sleep(hold);
        s.unlock(Datastore::Candidate).expect("holder unlocks");
        s.close().expect("holder closes");
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("holder has the lock");
    holder
}

#[tokio::test]
async fn a_lock_held_briefly_is_waited_for() {
    let sw = seeded(Faults::default());
    let b = backend_with(&sw, |c| {
        c.lock_timeout = mesa::config::Duration::from_secs(5)
    });
    let holder = hold_lock(&b, Duration::from_secs(2));
    let started = Instant::now();
    let results = b
        .apply(&switch_ref(), &[change(2, Profile::Ap)])
        .await
        .expect("apply after the lock is released");
    let waited = started.elapsed();
    holder.join().unwrap();
    assert!(results[0].changed);
    assert!(waited >= Duration::from_millis(1500), "waited {waited:?}");
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert_clean(&sw);
}

#[tokio::test]
async fn a_lock_held_too_long_names_the_holder() {
    let sw = seeded(Faults::default());
    let before = sw.running_config();
    let b = backend_with(&sw, |c| {
        c.lock_timeout = mesa::config::Duration::from_secs(2)
    });
    let holder = hold_lock(&b, Duration::from_secs(5));
    let err = b
        .apply(&switch_ref(), &[change(2, Profile::Ap)])
        .await
        .expect_err("lock never free");
    match &err {
        BackendError::Locked(m) => {
            assert!(
                m.contains(&format!("locked by {} terminal", sw.sshd.user)),
                "{m}"
            );
            assert!(m.contains("exclusive"), "{m}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.is_transient());
    holder.join().unwrap();
    assert!(sw.commit_log().is_empty());
    assert_eq!(sw.running_config(), before);
    assert_clean(&sw);
}

#[tokio::test]
async fn someone_elses_uncommitted_change_is_never_committed() {
    let sw = seeded(Faults::default());
    let before = sw.running_config();
    let b = backend_with(&sw, |c| {
        c.lock_timeout = mesa::config::Duration::from_secs(2)
    });
    // A colleague in shared `configure` mode: a change in the candidate, no lock, no commit.
    let mut colleague = Session::connect(&b.connect_options(&switch_ref())).expect("connect");
    colleague
        .junos_load_set(&["set vlans lab vlan-id 300".to_string()])
        .expect("load");
    colleague.close().expect("close");
    let theirs = sw.candidate_config();
    assert!(theirs.contains("set vlans lab vlan-id 300"));

    let started = Instant::now();
    let err = b
        .apply(&switch_ref(), &[change(2, Profile::Ap)])
        .await
        .expect_err("must not commit their work");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for them first: {:?}",
        started.elapsed()
    );
    match &err {
        BackendError::Locked(m) => assert!(m.contains("uncommitted changes"), "{m}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(sw.candidate_config(), theirs, "their change is left alone");
    assert_eq!(sw.running_config(), before);
    assert!(sw.commit_log().is_empty());
    assert!(sw.state.lock_holder().unwrap().is_none());
}

/// The confirmed commit is applied, then the connection drops without a reply. Returns
/// whether the switch ended with the change (applied and confirmed) rather than without it
/// (rolled back); never anything in between, and the report agrees.
async fn connection_dropped_mid_commit(minute_secs: u64) -> bool {
    let sw = seeded(Faults {
        drop_during_commit: 1,
        minute_secs: Some(minute_secs),
        ..Faults::default()
    });
    let before = sw.running_config();
    let b = backend(&sw);
    let ap = change(6, Profile::Ap);
    let outcome = b.apply(&switch_ref(), std::slice::from_ref(&ap)).await;
    eprintln!("drop mid-commit (minute = {minute_secs} s): outcome={outcome:?}");
    // Past the confirm deadline (one "minute"): whatever was not confirmed is undone.
    tokio::time::sleep(Duration::from_millis(minute_secs * 1000 + 500)).await;
    settle(&sw.state).unwrap();
    wait_sessions_gone(&sw);
    let running = sw.running_config();
    let log = sw.commit_log();
    let applied = running != before;
    if applied {
        assert_has_lines(&running, &set_lines(&b, &ap));
        assert!(log.iter().all(|e| e.kind != "rollback"), "{log:#?}");
        assert_one_confirmed_commit(&log, 1);
        let results = outcome.expect("applied and confirmed must be reported as success");
        assert!(results[0].changed);
        assert!(results[0].diff.contains("ge-0/0/6"), "{results:?}");
    } else {
        assert_eq!(sorted(&running), sorted(&before), "fully rolled back");
        assert!(log.iter().any(|e| e.kind == "rollback"), "{log:#?}");
        assert!(
            matches!(outcome, Err(BackendError::Uncertain(_))),
            "{outcome:?}"
        );
    }
    assert_clean(&sw);
    applied
}

#[tokio::test]
async fn connection_dropped_mid_commit_is_read_back_and_confirmed() {
    // Two seconds to the rollback: the read-back normally confirms in time.
    connection_dropped_mid_commit(2).await;
}

#[tokio::test]
async fn connection_dropped_mid_commit_rolled_back_before_the_read_back() {
    // A zero-second "minute": the rollback is due before the read-back looks.
    assert!(!connection_dropped_mid_commit(0).await);
}

#[tokio::test]
async fn ex3400_unlock_error_after_commit_is_success() {
    let sw = seeded(Faults {
        unlock_error_after_commit: true,
        ..Faults::default()
    });
    let b = backend(&sw);
    let ap = change(8, Profile::Ap);
    let results = b
        .apply(&switch_ref(), std::slice::from_ref(&ap))
        .await
        .expect("read back finds the commit");
    assert!(results[0].changed);
    assert!(
        results[0].diff.contains("ge-0/0/8"),
        "the diff survives the read-back: {:?}",
        results[0]
    );
    assert_has_lines(&sw.running_config(), &set_lines(&b, &ap));
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert_clean(&sw);
}

#[tokio::test]
async fn slow_commit_within_the_rpc_timeout() {
    let sw = seeded(Faults {
        commit_delay_ms: 1500,
        ..Faults::default()
    });
    let b = backend_with(&sw, |c| {
        c.rpc_timeout = mesa::config::Duration::from_secs(10)
    });
    let results = b
        .apply(&switch_ref(), &[change(9, Profile::Ap)])
        .await
        .expect("slow commit");
    assert!(results[0].changed);
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert_clean(&sw);
}

/// A reply that times out proves nothing either way; checks the report against the switch
/// once every session (our abandoned one included) is done.
async fn commit_past_the_rpc_timeout(faults: Faults) -> Result<Vec<PortResult>, BackendError> {
    let sw = seeded(faults);
    let before = sw.running_config();
    let b = backend_with(&sw, |c| {
        c.rpc_timeout = mesa::config::Duration::from_millis(700);
        c.lock_timeout = mesa::config::Duration::from_secs(10);
    });
    let ap = change(9, Profile::Ap);
    let outcome = b.apply(&switch_ref(), std::slice::from_ref(&ap)).await;
    wait_sessions_gone(&sw);
    let running = sw.running_config();
    let log = sw.commit_log();
    let committed = log.iter().any(|e| e.kind == "commit");
    eprintln!("commit past rpc_timeout: committed={committed}, outcome={outcome:?}\n{log:#?}");
    if committed {
        assert!(
            matches!(outcome, Ok(_) | Err(BackendError::Uncertain(_))),
            "the commit went through, the report must not be a plain failure: {outcome:?}"
        );
        assert_has_lines(&running, &set_lines(&b, &ap));
    } else {
        assert!(outcome.is_err());
        assert_eq!(running, before);
    }
    if let Ok(results) = &outcome {
        assert!(results[0].changed && results[0].diff.contains("ge-0/0/9"));
    }
    assert_clean(&sw);
    outcome
}

#[tokio::test]
async fn commit_check_past_the_rpc_timeout_changes_nothing() {
    let outcome = commit_past_the_rpc_timeout(Faults {
        commit_delay_ms: 1500,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(outcome, Err(BackendError::Unreachable(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn confirmed_commit_past_the_rpc_timeout_is_read_back() {
    // The check answers in time, the confirmed commit does not: the read-back waits for the
    // abandoned commit (it holds the lock until done), finds the lines and confirms them.
    let results = commit_past_the_rpc_timeout(Faults {
        commit_check_delay_ms: Some(0),
        commit_delay_ms: 1500,
        ..Faults::default()
    })
    .await
    .expect("read back and confirmed");
    assert!(results[0].changed);
}

#[tokio::test]
async fn base10_only_hello_uses_end_of_message_framing() {
    let sw = seeded(Faults {
        base10_only: true,
        ..Faults::default()
    });
    let b = backend(&sw);
    let s = Session::connect(&b.connect_options(&switch_ref())).expect("connect");
    assert_eq!(s.framing(), Framing::EndOfMessage);
    s.close().expect("close");
    let ap = change(1, Profile::Ap);
    let results = b
        .apply(&switch_ref(), std::slice::from_ref(&ap))
        .await
        .expect("apply");
    assert!(results[0].changed);
    assert_has_lines(&sw.running_config(), &set_lines(&b, &ap));
    assert_one_confirmed_commit(&sw.commit_log(), 1);
    assert_clean(&sw);
}

#[tokio::test]
async fn timings() {
    let sw = seeded(Faults::default());
    let b = backend(&sw);
    let opts = b.connect_options(&switch_ref());
    let mut ssh_only = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut transport = mesa::backend::netconf::transport::Transport::open(&opts).expect("ssh");
        ssh_only.push(t.elapsed());
        transport.receive().expect("hello");
        transport.shutdown();
    }
    ssh_only.sort();
    let mut setup = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = Session::connect(&opts).expect("connect");
        setup.push(t.elapsed());
        s.close().expect("close");
    }
    let t = Instant::now();
    b.apply(&switch_ref(), &[change(0, Profile::Ap)])
        .await
        .expect("1 port");
    let one = t.elapsed();
    let changes: Vec<PortChange> = (1..13).map(|i| change(i, Profile::Ap)).collect();
    let t = Instant::now();
    b.apply(&switch_ref(), &changes).await.expect("12 ports");
    let twelve = t.elapsed();
    setup.sort();
    eprintln!(
        "TIMINGS ssh (tcp+kex+auth+subsystem) median {:?}; session setup (ssh+hello) min {:?} median {:?} max {:?}; apply 1 port {:?}; apply 12 ports {:?}",
        ssh_only[2], setup[0], setup[2], setup[4], one, twelve
    );
    assert!(one < Duration::from_secs(10) && twelve < Duration::from_secs(10));
}

/// Mist → mesa → NETCONF → switch: a signed AP_CONNECTED webhook over HTTP makes the port an
/// AP port in the simulated switch's committed configuration; the AP unplugged and a signed
/// AP_DISCONNECTED make it secured again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_committed_config_end_to_end() {
    let sw = seeded(Faults::default());
    let fake = FakeMist::start().await;
    let sw_mac = Mac::parse("f4a7391a2b3c").unwrap();
    let ap_mac = Mac::parse("5c5b35d0e0f1").unwrap();
    fake.add_site(SITE, "HQ");
    // The LLDP system name Mist reports is the name the [switches."<name>"] override uses.
    fake.add_switch(&sw_mac, SWITCH, SITE, "192.0.2.1");
    fake.plug_ap(&ap_mac, &sw_mac, "ge-0/0/7");

    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    let secret = config.mist.webhook_secret.clone();
    config.mist = mesa::config::MistConfig {
        webhook_secret: secret,
        lookup_delay: mesa::config::Duration::from_secs(0),
        lookup_backoff: mesa::config::Duration::from_millis(10),
        ..fake.mist_config()
    };
    config.guards.disconnect_delay = mesa::config::Duration::from_secs(0);
    config.guards.lldp.recheck_after = mesa::config::Duration::from_millis(50);
    // On, and skipped by itself: one AP is at most min_site_aps (2).
    config.guards.outage.enabled = true;
    config.backend.kind = mesa::config::BackendKind::Netconf;
    config.backend.netconf = netconf_config(&sw);
    config.switches = overrides(&sw);
    config.templates.vars.insert(
        "ap_vlans".into(),
        toml::Value::Array(vec![toml::Value::Integer(10), toml::Value::Integer(20)]),
    );
    let templates = Arc::new(Templates::load(&config.templates).expect("templates"));
    let nc: Arc<dyn SwitchBackend> = Arc::new(NetconfBackend::new(
        &config.backend.netconf,
        &config.switches,
        templates,
    ));
    let mesa = support::mesa::start_with_backend(dir, config, nc).await;
    let b = backend(&sw);
    let ap_lines = set_lines(&b, &change(7, Profile::Ap));

    let now = chrono::Utc::now().timestamp();
    let connected = support::mesa::device_event("AP_CONNECTED", ap_mac.as_str(), SITE, now);
    let resp = mesa.post_signed(&connected).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    mesa.idle().await;
    let running = sw.running_config();
    for line in &ap_lines {
        // The AP name comes from the webhook (`device_name`), not from our test change.
        if !line.contains(" description ") {
            assert!(
                running.lines().any(|l| l == line),
                "missing {line}\n{running}"
            );
        }
    }
    assert!(running.contains(&format!(
        "set interfaces ge-0/0/7 description \"AP ap-{}\"",
        ap_mac.as_str()
    )));
    assert!(!running.contains("dot1x authenticator interface ge-0/0/7 "));
    let log = sw.commit_log();
    assert_one_confirmed_commit(&log, 1);
    assert_clean(&sw);

    fake.unplug_ap(&ap_mac);
    let disconnected =
        support::mesa::device_event("AP_DISCONNECTED", ap_mac.as_str(), SITE, now + 5);
    let resp = mesa.post_signed(&disconnected).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    mesa.idle().await;
    let running = sw.running_config();
    assert_has_lines(&running, &set_lines(&b, &change(7, Profile::Secured)));
    assert!(!running.contains("set interfaces ge-0/0/7 native-vlan-id"));
    assert!(!running.contains("ge-0/0/7 unit 0 family ethernet-switching interface-mode trunk"));
    assert_eq!(sw.commit_log().len(), 4, "{:#?}", sw.commit_log());
    assert_clean(&sw);
}

/// mesa killed between its confirmed commit and the confirming one: the lines are active but
/// would roll back. The re-run finds an empty diff and must confirm that commit (one plain
/// commit, no second confirmed commit); someone else's pending commit is left alone.
#[tokio::test]
async fn empty_diff_confirms_our_own_pending_confirmed_commit() {
    let sw = seeded(Faults::default());
    let b = backend(&sw);
    let ap = change(3, Profile::Ap);
    let lines = b
        .plan(&switch_ref(), std::slice::from_ref(&ap))
        .unwrap()
        .ports[0]
        .lines
        .clone();
    let opts = b.connect_options(&switch_ref());
    let commit_by_hand = |log: &'static str, lines: Vec<String>| {
        let opts = opts.clone();
        std::thread::spawn(move || {
            let mut s = Session::connect(&opts).expect("connect");
            s.lock(Datastore::Candidate).expect("lock");
            s.junos_load_set(&lines).expect("load");
            s.junos_commit_confirmed(5, log).expect("confirmed commit");
            // The process dies here: no confirming commit; the lock goes with the session.
            drop(s);
        })
        .join()
        .unwrap();
    };
    commit_by_hand("mesa: AP_CONNECTED ap-03", lines.clone());
    assert!(sw.state.pending_confirm().unwrap().is_some());

    let results = b
        .apply(&switch_ref(), std::slice::from_ref(&ap))
        .await
        .expect("apply");
    assert!(!results[0].changed, "already active: {results:?}");
    assert!(sw.state.pending_confirm().unwrap().is_none(), "confirmed");
    let log = sw.commit_log();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(!log[1].confirmed && log[1].lines_added == 0, "{log:#?}");
    assert_clean(&sw);

    // A human's pending confirmed commit is theirs to confirm.
    let other = change(4, Profile::Ap);
    let other_lines = b
        .plan(&switch_ref(), std::slice::from_ref(&other))
        .unwrap()
        .ports[0]
        .lines
        .clone();
    commit_by_hand("testing a change", other_lines);
    let err = b
        .apply(&switch_ref(), std::slice::from_ref(&other))
        .await
        .expect_err("their pending commit may still roll back our lines");
    assert!(matches!(err, BackendError::Locked(_)), "{err:?}");
    assert!(
        sw.state.pending_confirm().unwrap().is_some(),
        "left pending"
    );
    assert_eq!(sw.commit_log().len(), 3);
}

/// An operator tries a risky change with `commit confirmed` and has not confirmed it yet.
/// Any commit of ours would confirm it too (Junos confirms with the next commit, whoever
/// sends it): mesa must back off with `Locked`, and their change must still roll back at its
/// deadline.
#[tokio::test]
async fn someone_elses_pending_confirmed_commit_is_never_confirmed() {
    // One simulated "minute" is 15 s: time enough for mesa's attempt before the deadline,
    // even on a loaded CI machine running the other tests of this file in parallel.
    let sw = seeded(Faults {
        minute_secs: Some(15),
        ..Faults::default()
    });
    let before = sw.running_config();
    let b = backend(&sw);
    let mut operator = Session::connect(&b.connect_options(&switch_ref())).expect("connect");
    operator.lock(Datastore::Candidate).expect("lock");
    operator
        .junos_load_set(&["set vlans lab vlan-id 300".to_string()])
        .expect("load");
    let committed_at = Instant::now();
    operator
        .junos_commit_confirmed(1, "risky: lab vlan")
        .expect("confirmed commit");
    operator.unlock(Datastore::Candidate).expect("unlock");
    // The operator's session stays open (on Junos its end would roll back at once).

    let err = b
        .apply(&switch_ref(), &[change(2, Profile::Ap)])
        .await
        .expect_err("must not commit over their pending commit");
    assert!(
        committed_at.elapsed() < Duration::from_secs(15),
        "the test needs mesa's attempt before their deadline"
    );
    match &err {
        BackendError::Locked(m) => {
            assert!(
                m.contains(&format!(
                    "a confirmed commit by {} is pending",
                    sw.sshd.user
                )),
                "{m}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.is_transient());
    let log = sw.commit_log();
    assert_eq!(log.len(), 1, "no commit of mesa: {log:#?}");
    assert!(
        sw.state.pending_confirm().unwrap().is_some(),
        "still theirs"
    );
    assert!(sw.state.lock_holder().unwrap().is_none(), "lock released");
    operator.close().expect("close");

    tokio::time::sleep(Duration::from_millis(15_500).saturating_sub(committed_at.elapsed())).await;
    settle(&sw.state).unwrap();
    let log = sw.commit_log();
    assert!(log.iter().any(|e| e.kind == "rollback"), "{log:#?}");
    assert_eq!(sw.running_config(), before, "their change rolled back");
    assert_clean(&sw);
}
