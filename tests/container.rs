//! The container image built and run for real with podman: the runtime stage of the
//! Dockerfile (`--target prebuilt`, on the `mesa` binary this test run built) on a
//! `debian:bookworm-slim` made locally by `scripts/container-base.sh` (no registry needed).
//!
//! Needs root, `podman` with `runc`, `podman-compose`, and `debootstrap` (scripts/test-all.sh
//! installs them). Warm (base image and layers cached) both tests take about 35 s; from
//! nothing, with the debootstrap, about 3.5 min.
//! Where no container engine can run (not root, podman missing) the tests print why and
//! pass, unless MESA_REQUIRE_CONTAINER_TEST=1 (set by scripts/test-all.sh, so CI never
//! skips them). podman runs with tests/container/containers.conf (CONTAINERS_CONF): the
//! machine's own configuration is not touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;

const IMAGE: &str = "localhost/mesa:container-test";
const SECRET: &str = "container-test-secret";
const AP_MAC: &str = "5c5b35c0ffee";
/// The compose file's `stop_grace_period`.
const GRACE: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn containers_conf() -> PathBuf {
    repo().join("tests/container/containers.conf")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", containers_conf())
        .stdin(Stdio::null())
        .output()
        .expect("podman runs")
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(out.status.success(), "podman {args:?}: {}", show(&out));
    text(&out.stdout)
}

/// Why no container engine can run here, if so.
fn no_engine() -> Option<String> {
    // The owner of /proc/self is this process's uid.
    let uid = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    if uid != 0 {
        return Some(format!(
            "runs as uid {uid}: the test needs root (rootful podman, debootstrap)"
        ));
    }
    for (tool, package) in [
        ("podman", "podman"),
        ("runc", "runc"),
        ("debootstrap", "debootstrap"),
        ("podman-compose", "podman-compose"),
    ] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "`{tool}` is not installed (apt-get install {package})"
            ));
        }
    }
    None
}

/// True when the test can run; prints why not otherwise (and fails where it must run).
fn engine_available() -> bool {
    let Some(why) = no_engine() else {
        return true;
    };
    let required = std::env::var("MESA_REQUIRE_CONTAINER_TEST").is_ok_and(|v| v == "1");
    assert!(!required, "container test required but cannot run: {why}");
    // Straight to stderr: libtest would swallow an eprintln! of a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no container engine can run here: {why}"
    );
    false
}

/// The image, built once per test run: the base image from the cache, then the Dockerfile's
/// `prebuilt` target on the binary Cargo built for this test.
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let base = Command::new(repo().join("scripts/container-base.sh"))
            .env("CONTAINERS_CONF", containers_conf())
            .output()
            .expect("container-base.sh runs");
        assert!(base.status.success(), "container-base.sh: {}", show(&base));

        let previous = podman(&["image", "inspect", "--format", "{{.Id}}", IMAGE]);
        let context = tempfile::tempdir().unwrap();
        fs::copy(env!("CARGO_BIN_EXE_mesa"), context.path().join("mesa")).unwrap();
        let dockerfile = repo().join("Dockerfile");
        podman_ok(&[
            "build",
            "--pull=never",
            // The docker format keeps HEALTHCHECK (the OCI format has no such field).
            "--format=docker",
            "--network=host",
            "--target=prebuilt",
            "--tag",
            IMAGE,
            "--file",
            dockerfile.to_str().unwrap(),
            context.path().to_str().unwrap(),
        ]);
        // The image of the previous run, now untagged, would pile up run after run.
        let previous = text(&previous.stdout);
        if previous.trim() != podman_ok(&["image", "inspect", "--format", "{{.Id}}", IMAGE]).trim()
            && !previous.trim().is_empty()
        {
            let _ = podman(&["rmi", previous.trim()]);
        }
    });
    IMAGE
}

/// A container removed (whatever its state) when the test ends, however it ends.
struct Container {
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.name]);
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Runs `podman healthcheck run` until the container reports healthy.
fn wait_healthy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = podman(&["healthcheck", "run", name]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became healthy: {}\nlogs:\n{}",
            show(&out),
            text(&podman(&["logs", name]).stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `dir/config.toml` for the container (paths are the image's), the secret from the env.
/// Sets `mist.lookup_delay` in an installed config.toml (the line `mesa.sh init` wrote).
fn set_lookup_delay(config_path: &Path, delay: &str) {
    let config = fs::read_to_string(config_path).unwrap();
    let line = config
        .lines()
        .find(|l| l.starts_with("lookup_delay ="))
        .expect("config.toml sets mist.lookup_delay")
        .to_owned();
    fs::write(
        config_path,
        config.replace(&line, &format!("lookup_delay = \"{delay}\"")),
    )
    .unwrap();
}

fn write_config(dir: &Path, lookup_delay: &str) {
    fs::write(
        dir.join("config.toml"),
        format!(
            "[server]\nlisten = \"0.0.0.0:51360\"\ndata_dir = \"/var/lib/mesa\"\n\
             [mist]\nwebhook_secret = \"${{MIST_WEBHOOK_SECRET}}\"\n\
             max_event_age = \"36500days\"\nlookup_delay = \"{lookup_delay}\"\n\
             [backend]\nkind = \"dry-run\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(dir.join("config.toml"), fs::Permissions::from_mode(0o644)).unwrap();
}

fn webhook_body() -> String {
    serde_json::json!({
        "topic": "device-events",
        "events": [{
            "type": "AP_CONNECTED",
            "mac": AP_MAC,
            "device_name": "ap-container-test",
            "device_type": "ap",
            "org_id": mesa::sim::mist::ORG_ID,
            "site_id": "site-1",
            "site_name": "HQ",
            "timestamp": 1_700_000_000,
        }]
    })
    .to_string()
}

/// POSTs a signed webhook from inside the container (its network may be `none`) and returns
/// the HTTP status.
fn post_signed_inside(name: &str, body: &str) -> String {
    let signature = mesa::ingest::signature::sign_v2(SECRET.as_bytes(), body.as_bytes());
    let mut child = Command::new("podman")
        .args([
            "exec",
            "-i",
            name,
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["-H", &format!("X-Mist-Signature-v2: {signature}")])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data-binary", "@-", "http://127.0.0.1:51360/mist/webhook"])
        .env("CONTAINERS_CONF", containers_conf())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("podman exec runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(body.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl in the container: {}",
        show(&out)
    );
    text(&out.stdout)
}

/// Journal (pending, done) of a copy of the volume's database: reading the live files as
/// root could leave root-owned WAL files the container's user cannot open.
fn journal_counts(data: &Path) -> (u64, u64) {
    let copy = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("mesa.db") {
            fs::copy(&path, copy.path().join(&name)).unwrap();
        }
    }
    let store = SqliteStore::open(copy.path(), false).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(store.journal_counts()).unwrap()
}

#[test]
fn image_runs_as_10001_healthy_and_keeps_the_journal_across_sigterm_and_restart() {
    if !engine_available() {
        return;
    }
    let image = image();
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let data = dir.path().join("data");
    fs::create_dir_all(&etc).unwrap();
    fs::create_dir_all(&data).unwrap();
    // As `mesa.sh init` does when run as root: the volume belongs to the image's user.
    let chown = Command::new("chown")
        .args(["10001:10001", data.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    // A long lookup delay: the event stays in the journal, unfinished, over the stop.
    write_config(&etc, "1h");

    let container = Container {
        name: unique("mesa-container-test"),
    };
    let etc_mount = format!("{}:/etc/mesa:ro", etc.display());
    let data_mount = format!("{}:/var/lib/mesa", data.display());
    let secret_env = format!("MIST_WEBHOOK_SECRET={SECRET}");
    podman_ok(&[
        "run",
        "--detach",
        "--name",
        &container.name,
        "--network=none",
        "--env",
        &secret_env,
        "--volume",
        &etc_mount,
        "--volume",
        &data_mount,
        image,
    ]);
    wait_healthy(&container.name);

    // uid 10001: the image's USER, and the uid mesa itself (PID 1) runs as.
    let user = podman_ok(&["inspect", "--format", "{{.Config.User}}", &container.name]);
    assert_eq!(user.trim(), "10001:10001");
    let status = podman_ok(&["exec", &container.name, "cat", "/proc/1/status"]);
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|id| id == "10001"),
        "PID 1 {uid_line}"
    );
    let cmdline = podman_ok(&["exec", &container.name, "cat", "/proc/1/cmdline"]);
    assert!(cmdline.starts_with("mesa\0serve"), "PID 1 is {cmdline:?}");

    let check = podman(&["exec", &container.name, "mesa", "check-config"]);
    assert!(check.status.success(), "check-config: {}", show(&check));
    let printed = format!("{}{}", text(&check.stdout), text(&check.stderr));
    assert!(
        !printed.contains(SECRET),
        "check-config printed the secret:\n{printed}"
    );

    assert_eq!(post_signed_inside(&container.name, &webhook_body()), "200");

    // SIGTERM (podman stop), with the compose file's grace period before a SIGKILL.
    let started = Instant::now();
    podman_ok(&[
        "stop",
        "--time",
        &GRACE.as_secs().to_string(),
        &container.name,
    ]);
    let took = started.elapsed();
    let exit = podman_ok(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ]);
    assert_eq!(
        exit.trim(),
        "0",
        "mesa exits 0 on SIGTERM (137 would be the SIGKILL after the grace period)"
    );
    assert!(took < GRACE, "stop took {took:?}");
    println!("podman stop (SIGTERM) took {took:?}");
    assert_eq!(
        journal_counts(&data),
        (1, 0),
        "the accepted event waits in the journal in the volume"
    );

    // Restart the same container: no delay now, so the journaled event is handled.
    write_config(&etc, "0s");
    podman_ok(&["start", &container.name]);
    wait_healthy(&container.name);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = podman_ok(&["exec", &container.name, "mesa", "events", "--json"]);
        if events.to_lowercase().replace(':', "").contains(AP_MAC) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no decision for the journaled event after the restart:\n{events}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    podman_ok(&[
        "stop",
        "--time",
        &GRACE.as_secs().to_string(),
        &container.name,
    ]);
    assert_eq!(
        journal_counts(&data),
        (0, 1),
        "handled once, after the restart"
    );

    // A new container on the same volume (what `mesa.sh update` does) sees the same data.
    drop(container);
    let replacement = Container {
        name: unique("mesa-container-test"),
    };
    let events = podman_ok(&[
        "run",
        "--rm",
        "--network=none",
        "--env",
        &secret_env,
        "--volume",
        &etc_mount,
        "--volume",
        &data_mount,
        "--name",
        &replacement.name,
        image,
        "events",
        "--json",
    ]);
    assert!(
        events.to_lowercase().replace(':', "").contains(AP_MAC),
        "{events}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request over a plain socket; the status code, or None when nothing answers.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// What mesa.sh made, taken down when the test ends however it ends.
struct Install {
    dir: PathBuf,
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = mesa_sh(&self.dir.join("mesa.sh"), &["uninstall"]);
        let _ = podman(&["rm", "--force", "--time", "0", "mesa"]);
        // Every image the test's Dockerfile made: `update` left the first one untagged.
        let built = podman(&["images", "--quiet", "--filter", "label=org.mesa.test-build"]);
        for id in text(&built.stdout).split_whitespace() {
            let _ = podman(&["rmi", "--force", id]);
        }
    }
}

const SH_IMAGE: &str = "localhost/mesa-sh-test:latest";

/// `mesa.sh ARGS` as an operator runs it: no terminal, podman as the engine.
fn mesa_sh(script: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("MESA_ENGINE", "podman")
        .env("CONTAINERS_CONF", containers_conf())
        .env_remove("MESA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs mesa.sh")
}

fn mesa_sh_ok(script: &Path, args: &[&str]) -> String {
    let out = mesa_sh(script, args);
    assert!(out.status.success(), "mesa.sh {args:?}: {}", show(&out));
    text(&out.stdout)
}

fn env_value(env_file: &Path, key: &str) -> String {
    fs::read_to_string(env_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("{key} not in {}", env_file.display()))
}

#[test]
fn mesa_sh_runs_mesa_on_podman_from_init_to_uninstall() {
    if !engine_available() {
        return;
    }
    let base = image();
    // docker-compose.yaml names the container `mesa`: never replace one this test did not make.
    assert!(
        !podman(&["container", "exists", "mesa"]).status.success(),
        "a container named `mesa` exists already: remove it (podman rm -f mesa) to run this test"
    );

    // A checkout: mesa.sh, the compose file, the example config, and a Dockerfile on the
    // image this test built (the real one would compile mesa, without a registry to get Rust).
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("checkout");
    fs::create_dir(&checkout).unwrap();
    for file in ["mesa.sh", "docker-compose.yaml", "config.example.toml"] {
        fs::copy(repo().join(file), checkout.join(file)).unwrap();
    }
    let dockerfile = |build: u32| {
        fs::write(
            checkout.join("Dockerfile"),
            format!("FROM {base}\nLABEL org.mesa.test-build={build}\n"),
        )
        .unwrap();
    };
    dockerfile(1);

    let dir = tmp.path().join("mesa");
    let port = free_port().to_string();
    let install = Install { dir: dir.clone() };
    mesa_sh_ok(
        &checkout.join("mesa.sh"),
        &[
            "init",
            "--yes",
            "--dir",
            dir.to_str().unwrap(),
            "--fqdn",
            "mesa.test.invalid",
            "--port",
            &port,
        ],
    );
    let env_file = dir.join(".env");
    let mut env = fs::read_to_string(&env_file).unwrap();
    env.push_str(&format!("MESA_IMAGE={SH_IMAGE}\n"));
    fs::write(&env_file, env).unwrap();
    let port: u16 = port.parse().unwrap();
    let script = install.dir.join("mesa.sh");
    // The operator asks for a minimum wait before the first lookup (mist.lookup_delay, 0 by
    // default): it holds the webhook's event in the journal over the stop below.
    set_lookup_delay(&dir.join("config.toml"), "60s");

    let check = mesa_sh(&script, &["check"]);
    assert!(check.status.success(), "check: {}", show(&check));

    mesa_sh_ok(&script, &["start"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/healthz", &[], "") != Some(200) {
        assert!(Instant::now() < deadline, "no /healthz on port {port}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = mesa_sh_ok(&script, &["status"]);
    assert!(status.contains("(healthy)"), "status:\n{status}");
    let logs = mesa_sh(&script, &["logs", "--tail", "50"]);
    let logs = format!("{}{}", text(&logs.stdout), text(&logs.stderr));
    assert!(logs.contains("listening"), "logs:\n{logs}");

    // A signed webhook with the secret init wrote to .env: it reached mesa without quotes.
    let body = webhook_body().replace(
        "1700000000",
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string(),
    );
    let secret = env_value(&env_file, "MIST_WEBHOOK_SECRET");
    let signature = mesa::ingest::signature::sign_v2(secret.as_bytes(), body.as_bytes());
    assert_eq!(
        http(
            port,
            "POST",
            "/mist/webhook",
            &[
                ("X-Mist-Signature-v2", &signature),
                ("Content-Type", "application/json")
            ],
            &body
        ),
        Some(200)
    );

    mesa_sh_ok(&script, &["stop"]);
    let state = podman_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "mesa",
    ]);
    assert_eq!(state.trim(), "exited 0", "stopped by SIGTERM, not killed");
    // The 60 s lookup delay holds the event in the journal over the stop.
    assert_eq!(journal_counts(&dir.join("data")), (1, 0));
    // The operator drops it; the recreated container picks the change and the event up.
    set_lookup_delay(&dir.join("config.toml"), "0s");

    // update rebuilds (no registry: --no-pull) and recreates the container on the new image.
    dockerfile(2);
    mesa_sh_ok(&script, &["update", "--no-pull"]);
    let label = podman_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{index .Config.Labels \"org.mesa.test-build\"}}",
        "mesa",
    ]);
    assert_eq!(label.trim(), "running 2");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = mesa_sh_ok(&script, &["mesa", "events", "--json"]);
        if events.to_lowercase().replace(':', "").contains(AP_MAC) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the event journaled before the update was not decided after it:\n{events}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // restart recreates the container (it picks up .env edits) and mesa comes back.
    let before = podman_ok(&["inspect", "--format", "{{.Id}}", "mesa"]);
    mesa_sh_ok(&script, &["restart"]);
    let after = podman_ok(&["inspect", "--format", "{{.Id}}", "mesa"]);
    assert_ne!(before, after, "restart recreates the container");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/healthz", &[], "") != Some(200) {
        assert!(Instant::now() < deadline, "no /healthz after restart");
        std::thread::sleep(Duration::from_millis(300));
    }

    let out = mesa_sh_ok(&script, &["uninstall"]);
    assert!(out.contains("is kept"), "{out}");
    assert!(!podman(&["container", "exists", "mesa"]).status.success());
    assert!(dir.join("data/mesa.db").exists(), "data kept");
}
