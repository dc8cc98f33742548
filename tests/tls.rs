//! Built-in TLS: mesa serves HTTPS from `server.tls_cert` / `server.tls_key`, checked with a
//! real TLS client against a certificate generated for the test (openssl CLI).

mod support;

use std::process::Command;

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (scripts/test-all.sh installs it)");
    assert!(status.success());
    (cert, key)
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut config = support::mesa::config(dir.path());
    config.server.tls_cert = Some(cert.clone());
    config.server.tls_key = Some(key);
    config.validate().expect("TLS config valid");
    let mesa = support::mesa::start_with(dir, config).await;
    let url = format!("https://localhost:{}/healthz", mesa.addr.port());

    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .resolve("localhost", mesa.addr)
        .build()
        .unwrap();
    let response = trusting
        .get(&url)
        .send()
        .await
        .expect("TLS handshake with our certificate");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    // A client that does not trust the certificate is refused, as Mist would be without
    // `verify_cert: false` for a self-signed one.
    let strict = reqwest::Client::builder()
        .resolve("localhost", mesa.addr)
        .build()
        .unwrap();
    assert!(strict.get(&url).send().await.is_err());

    // Plain HTTP to the TLS port gets nothing useful.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", mesa.addr.port())).await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}

#[test]
fn tls_key_without_cert_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\ntls_key = \"/etc/mesa/key.pem\"\n").unwrap();
    let err = mesa::config::Config::load(&path, true).unwrap_err();
    assert_eq!(err.first().key, "server.tls_cert");
}

#[tokio::test]
async fn sighup_reloads_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            dir.path().join("data").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("MESA_LOG", "warn")
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let client_trusting = |pem: &[u8]| {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
            .resolve("localhost", addr)
            .build()
            .unwrap()
    };
    let url = format!("https://localhost:{port}/healthz");
    let old = client_trusting(&std::fs::read(&cert).unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while old.get(&url).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "mesa did not serve HTTPS"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Renewal: new key and certificate written in place, then SIGHUP.
    let renewed = tempfile::tempdir().unwrap();
    let (new_cert, new_key) = self_signed(renewed.path());
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let fresh = client_trusting(&std::fs::read(&cert).unwrap());
    let mut served_new = false;
    while std::time::Instant::now() < deadline {
        // A new client each time: no reused TLS session.
        if fresh.get(&url).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        served_new,
        "the renewed certificate was not served after SIGHUP"
    );
}
