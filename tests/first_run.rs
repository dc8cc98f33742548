//! A new user's first ten minutes, through the real binary: `serve` on the built-in defaults
//! says what is missing (WARN at startup, `/readyz`), `check-config` without a file says so,
//! every configuration error shows at once, `demo` behaves in a pipe, logs are coloured only
//! on a terminal and never with `NO_COLOR`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn mesa() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesa"));
    cmd.env_remove("MESA_CONFIG")
        .env_remove("MESA_LOG")
        .env_remove("NO_COLOR");
    cmd
}

/// A `mesa serve` child, killed on drop (also when the test fails).
struct Serve {
    child: Child,
    addr: String,
    log: Vec<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mesa serve` in `dir` with `config` (ephemeral port); returns once it listens.
fn serve(dir: &Path, config: &str) -> Serve {
    std::fs::write(dir.join("config.toml"), config).expect("write config");
    let mut child = mesa()
        .arg("serve")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mesa serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut serve = Serve {
        child,
        addr: String::new(),
        log: Vec::new(),
    };
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        serve.log.push(line.clone());
        if line.contains("listening") {
            let addr = line.split("local=").nth(1).unwrap_or_default();
            serve.addr = addr.split_whitespace().next().unwrap_or_default().into();
            return serve;
        }
    }
    panic!("mesa serve did not listen:\n{}", serve.log.join("\n"));
}

fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn serve_on_defaults_warns_and_readyz_is_not_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = serve(dir.path(), "[server]\nlisten = \"127.0.0.1:0\"\n");
    let warnings: Vec<&String> = serve.log.iter().filter(|l| l.contains("WARN")).collect();
    for key in [
        "mist.api_token",
        "mist.org_id",
        "mist.webhook_secret",
        "backend.kind",
    ] {
        assert!(
            warnings.iter().any(|l| l.contains(key)),
            "no WARN about {key}:\n{}",
            serve.log.join("\n")
        );
    }
    // Not a terminal: no colour codes in a log that goes to a file or a pipe.
    assert!(
        !serve.log.iter().any(|l| l.contains('\x1b')),
        "{:?}",
        serve.log
    );
    assert_eq!(get(&serve.addr, "/healthz").0, 200);
    let (status, body) = get(&serve.addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON readyz");
    assert_eq!(body["status"], "not-ready");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("mist.api_token"), "{reasons}");
}

#[test]
fn readyz_is_degraded_when_only_optional_parts_are_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = serve(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:0\"\n[mist]\napi_token = \"t0k3n\"\norg_id = \"o\"\nwebhook_secret = \"s\"\n[templates.vars]\nap_vlans = [10]\n",
    );
    let (status, body) = get(&serve.addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON readyz");
    assert_eq!(body["status"], "degraded");
    assert_eq!(
        body["reasons"].as_array().map(Vec::len),
        Some(1),
        "only the dry-run backend: {body}"
    );
    assert!(body["reasons"][0]
        .as_str()
        .is_some_and(|r| r.starts_with("backend.kind")));
}

#[test]
fn check_config_without_a_file_says_defaults_and_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mesa()
        .arg("check-config")
        .current_dir(dir.path())
        .output()
        .expect("mesa runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("is valid"), "{stdout}");
    assert!(
        stdout.contains("config.toml not found: built-in defaults are used"),
        "{stdout}"
    );
    for key in ["mist.api_token", "mist.org_id", "mist.webhook_secret"] {
        assert!(
            stderr.contains(&format!("warning: {key}")),
            "no warning about {key}: {stderr}"
        );
    }
}

#[test]
fn every_missing_variable_is_reported_in_one_run() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = mesa()
        .args(["--config"])
        .arg(&example)
        .arg("check-config")
        .env_remove("MESA_API_TOKEN")
        .env_remove("MIST_API_TOKEN")
        .env_remove("MIST_ORG_ID")
        .env_remove("MIST_WEBHOOK_SECRET")
        .output()
        .expect("mesa runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for (key, var) in [
        ("server.api_token", "MESA_API_TOKEN"),
        ("mist.api_token", "MIST_API_TOKEN"),
        ("mist.org_id", "MIST_ORG_ID"),
        ("mist.webhook_secret", "MIST_WEBHOOK_SECRET"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&example.display().to_string())
                    && l.contains(key)
                    && l.contains(var)),
            "{key} / {var} not reported: {stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 4, "one line per error: {stderr}");
}

#[test]
fn errors_of_several_sections_show_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[server]\nlisten_addr = \"x\"\n[guards]\ndisconnect_delay = \"soon\"\n",
    )
    .expect("write");
    let out = mesa()
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .expect("mesa runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("server.listen_addr"), "{stderr}");
    assert!(stderr.contains("guards.disconnect_delay"), "{stderr}");
}

#[test]
fn demo_in_a_closed_pipe_ends_quietly() {
    let mut child = mesa()
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mesa demo starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("demo prints");
    // `| head -1`: the reader goes away.
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo still running after its reader left");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn demo_output_is_the_report_only_and_refuses_config() {
    let out = mesa().arg("demo").output().expect("mesa demo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Engine logs at INFO would interleave with the report on a terminal.
    assert!(!stderr.contains("INFO"), "{stderr}");
    let out = mesa()
        .args(["demo", "--config", "mine.toml"])
        .output()
        .expect("mesa demo runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

/// Runs `mesa` under a pseudo-terminal (util-linux `script`), so stderr is a terminal.
fn on_terminal(args: &str, no_color: bool) -> Output {
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} {args}", env!("CARGO_BIN_EXE_mesa")),
        "/dev/null",
    ])
    .env_remove("MESA_CONFIG")
    .env_remove("MESA_LOG")
    .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    cmd.output()
        .expect("util-linux `script` runs (apt-get install bsdutils)")
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[server]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .expect("write");
    let payload = dir.path().join("p.json");
    std::fs::write(
        &payload,
        r#"{"topic":"device-events","events":[{"type":"AP_CONNECTED","mac":"5c5b35000001","org_id":"o","site_id":"s","timestamp":1}]}"#,
    )
    .expect("write");
    let args = format!(
        "--config {} replay {} --dry-run",
        config.display(),
        payload.display()
    );
    let coloured = on_terminal(&args, false);
    let text = String::from_utf8_lossy(&coloured.stdout);
    assert!(text.contains("decision"), "{text}");
    assert!(text.contains('\x1b'), "a terminal gets colour: {text}");
    let plain = on_terminal(&args, true);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.contains("decision"), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR: {text}");
}

#[test]
fn a_failure_tried_once_does_not_claim_one_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1: Mist is unreachable, a transient failure.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n[mist]\napi_token = \"t\"\napi_url = \"http://127.0.0.1:1\"\nmax_retries = 0\nlookup_delay = \"0s\"\n",
            dir.path().display()
        ),
    )
    .expect("write");
    let payload = dir.path().join("p.json");
    std::fs::write(
        &payload,
        r#"{"topic":"device-events","events":[{"type":"AP_CONNECTED","mac":"5c5b35000001","org_id":"o","site_id":"s","timestamp":1}]}"#,
    )
    .expect("write");
    let out = mesa()
        .arg("--config")
        .arg(&config)
        .arg("replay")
        .arg(&payload)
        .arg("--dry-run")
        .output()
        .expect("mesa runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("failed"), "{stdout}{stderr}");
    assert!(!stdout.contains("1 attempts"), "{stdout}");
    // A failed decision is logged at ERROR, not INFO.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("decision")),
        "{stderr}"
    );
}
