//! `mesa check-config` and configuration errors, through the real binary: every broken file
//! stops mesa with exit code 2 and one line naming the file, the key and the reason.

use std::path::Path;
use std::process::{Command, Output};

fn mesa(config: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesa"));
    cmd.arg("--config")
        .arg(config)
        .arg("check-config")
        .env_remove("MESA_CONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("mesa runs")
}

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("MESA_API_TOKEN", "api-token-value-123"),
    ("MIST_API_TOKEN", "mist-token-value-456"),
    ("MIST_ORG_ID", "9777c1a0-6ef6-11e6-8bbf-02e208b2d34f"),
    ("MIST_WEBHOOK_SECRET", "webhook-secret-value-789"),
];

#[test]
fn example_config_is_valid_and_secrets_are_masked() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = mesa(&example, EXAMPLE_ENV);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("is valid"));
    for (_, secret) in EXAMPLE_ENV {
        if secret.contains("value") {
            assert!(!stdout.contains(secret), "secret {secret} printed");
        }
    }
    assert!(stdout.contains("api_token = \"***\""));
}

#[test]
fn broken_configs_name_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[server]\nlisten_addr = \"0.0.0.0:1\"\n",
            "server.listen_addr",
            "unknown field `listen_addr`",
        ),
        (
            "[mist]\naccept_sha1 = \"yes\"\n",
            "mist.accept_sha1",
            "invalid type",
        ),
        (
            "[guards]\ndisconnect_delay = \"soon\"\n",
            "guards.disconnect_delay",
            "bad duration",
        ),
        (
            "[mist]\napi_token = \"${MESA_TEST_DEFINITELY_UNSET}\"\n",
            "mist.api_token",
            "MESA_TEST_DEFINITELY_UNSET is not set",
        ),
        (
            "[mist]\napi_token_file = \"/nonexistent/token\"\n",
            "mist.api_token_file",
            "cannot read /nonexistent/token",
        ),
        (
            "[backend]\nkind = \"netconf\"\n[mist]\napi_token = \"t\"\n",
            "backend.netconf.password",
            "set a password",
        ),
        (
            "[backend]\nkind = \"telnet\"\n",
            "backend.kind",
            "unknown variant `telnet`",
        ),
        (
            "[guards.outage]\nmin_percent = 0\n",
            "guards.outage.min_percent",
            "between 1 and 100",
        ),
        (
            "[server]\nlisten = \"nowhere\"\n",
            "server.listen",
            "expected an address",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:1\"\n[server]\n",
            "line 3",
            "duplicate key `server`",
        ),
        (
            "[[notify]]\nkind = \"slack\"\nurl = \"https://x\"\noutcomes = [\"done\"]\n",
            "notify[0].outcomes",
            "unknown outcome",
        ),
        (
            "[mist]\napi_token = \"t\"\norg_id = \"o\"\n[backend]\nkind = \"mist\"\n",
            "mist.webhook_secret",
            "mist.allow_unsigned = true",
        ),
        (
            "[mist]\nmax_event_age = \"5s\"\n",
            "mist.max_event_age",
            "at least 1m",
        ),
        (
            "[templates]\ndir = \"/nonexistent/templates\"\n",
            "templates",
            "/nonexistent/templates",
        ),
    ];
    for (text, key, reason) in cases {
        let path = write(dir.path(), text);
        let out = mesa(&path, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{text}: no file in {stderr}"
        );
        assert!(stderr.contains(key), "{text}: no key {key} in {stderr}");
        assert!(
            stderr.contains(reason),
            "{text}: no reason {reason:?} in {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn commit_confirm_must_be_whole_minutes_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[mist]\napi_token = \"t\"\n[backend]\nkind = \"netconf\"\n[backend.netconf]\npassword = \"p\"\ncommit_confirm = \"30s\"\n",
    );
    let out = mesa(&path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("backend.netconf.commit_confirm") && stderr.contains("minutes"),
        "{stderr}"
    );
}

#[test]
fn missing_explicit_config_file_is_an_error() {
    let out = mesa(Path::new("/nonexistent/mesa.toml"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/mesa.toml"));
}

#[test]
fn secret_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-a-file-secret\n").unwrap();
    let path = write(
        dir.path(),
        &format!("[mist]\napi_token_file = \"{}\"\n", token.display()),
    );
    let out = mesa(&path, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("from-a-file-secret"));
    assert!(stdout.contains("api_token = \"***\""));
}

#[test]
fn broken_template_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("ap.set.j2"),
        "set interfaces {{ port }} description ok\nset interfaces {{ port unit 0\n",
    )
    .unwrap();
    let path = write(
        dir.path(),
        &format!("[templates]\ndir = \"{}\"\n", templates.display()),
    );
    let out = mesa(&path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("templates") && stderr.contains("ap.set.j2:2"),
        "{stderr}"
    );
}

#[test]
fn check_config_shows_rendered_templates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[templates.vars]\nap_vlans = [10, 20]\n");
    let out = mesa(&path, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# Rendered templates"), "{stdout}");
    assert!(
        stdout.contains("interface-mode trunk") && stdout.contains("mac-radius restrict"),
        "{stdout}"
    );
}

#[test]
fn secured_template_options_render_only_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[templates.vars]\nguest_vlan = \"GUEST\"\nserver_fail_vlan = \"SERVER_FAIL\"\naccess_vlan = \"QUARANTINE\"\nmac_radius = \"\"\n",
    );
    let out = mesa(&path, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "set protocols dot1x authenticator interface ge-0/0/12 guest-vlan GUEST",
        "set protocols dot1x authenticator interface ge-0/0/12 server-fail vlan-name SERVER_FAIL",
        "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members QUARANTINE",
    ] {
        assert!(stdout.contains(line), "{line} missing in {stdout}");
    }
    // 802.1X first, MAB as fallback: no "restrict".
    assert!(
        stdout.contains("authenticator interface ge-0/0/12 mac-radius\n"),
        "{stdout}"
    );
}

#[test]
fn live_backend_without_webhook_secret_needs_allow_unsigned_written_out() {
    let dir = tempfile::tempdir().unwrap();
    let live = "[mist]\napi_token = \"t\"\n[backend]\nkind = \"netconf\"\n[backend.netconf]\npassword = \"p\"\n";
    let out = mesa(&write(dir.path(), live), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mist.webhook_secret") && stderr.contains("forged AP_DISCONNECTED"),
        "{stderr}"
    );
    for allowed in [
        live.replace("[mist]\n", "[mist]\nallow_unsigned = true\n"),
        live.replace("[mist]\n", "[mist]\nwebhook_secret = \"s\"\n"),
        "[mist]\n".to_string(), // dry-run changes nothing
    ] {
        let out = mesa(&write(dir.path(), &allowed), &[]);
        assert!(
            out.status.success(),
            "{allowed}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
