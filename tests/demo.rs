//! `mesa demo` runs the whole scenario through the real pipeline and tells the story.

use std::process::Command;

#[test]
fn demo_plays_the_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("demo")
        .env("MESA_LOG", "warn")
        .env_remove("MESA_CONFIG")
        .output()
        .expect("mesa demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plugged in → AP profile; unplugged → secured; WAN cut → held; moved → both.
    assert!(stdout.contains("AP_CONNECTED 5c:5b:35:00:00:01"));
    assert!(stdout.contains(
        "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk"
    ));
    assert!(stdout
        .contains("set protocols dot1x authenticator interface ge-0/0/12 mac-radius restrict"));
    assert_eq!(
        stdout.matches("skipped by site-outage").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("AP moved: was on sw-hq-01 ge-0/0/20, now on sw-branch-01 ge-0/0/5"));
    assert!(stdout.contains("sw-branch-01   ge-0/0/5    ap"));
}
