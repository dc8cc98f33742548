//! `mesa replay`, `mesa ports` and `mesa events` through the real binary, against the fake
//! Mist over HTTP: a newcomer can run one webhook body through the pipeline and read why.

use std::process::Command;

use mesa::model::Mac;
use mesa::sim::mist::FakeMist;

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

fn mesa(config: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MESA_LOG", "warn")
        .output()
        .expect("mesa runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_prints_every_step_and_the_store_remembers() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n[mist]\napi_url = \"{}\"\napi_token = \"{}\"\norg_id = \"{}\"\nlookup_delay = \"0s\"\n",
            dir.path().join("data").display(),
            fake.url(),
            fake.token(),
            fake.org_id()
        ),
    )
    .unwrap();
    let payload = dir.path().join("event.json");
    std::fs::write(
        &payload,
        format!(r#"{{"topic":"device-events","events":[{{"type":"AP_CONNECTED","mac":"{}","site_id":"{SITE}","timestamp":1700000000}}]}}"#, ap),
    )
    .unwrap();

    let (config_path, payload_path) = (config.clone(), payload.clone());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        mesa(
            &config_path,
            &["replay", payload_path.to_str().unwrap(), "--dry-run"],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("AP_CONNECTED 5c:5b:35:00:00:01"),
        "{stdout}"
    );
    assert!(stdout.contains("→ applied"), "{stdout}");
    assert!(stdout.contains("LLDP: switch \"sw1\""), "{stdout}");
    assert!(
        stdout.contains(
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains(&fake.token()), "token printed");

    // --dry-run decided from a copy: the real store is untouched.
    let (ok, ports, _) = mesa(&config, &["ports", "--json"]);
    assert!(ok);
    assert_eq!(ports.trim(), "[]");

    // Without --dry-run, the configured backend (dry-run kind here) applies and records.
    let (config_path, payload_path) = (config.clone(), payload.clone());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        mesa(&config_path, &["replay", payload_path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok && stdout.contains("→ applied"), "{stdout}{stderr}");

    // While another mesa holds the data dir, replay refuses to change anything.
    let lock = mesa::lock::DataDirLock::acquire(&dir.path().join("data"), "mesa serve").unwrap();
    let (ok, _, stderr) = mesa(&config, &["replay", payload.to_str().unwrap()]);
    assert!(!ok && stderr.contains("mesa serve"), "{stderr}");
    drop(lock);

    let (ok, ports, _) = mesa(&config, &["ports", "--json"]);
    assert!(ok);
    let ports: serde_json::Value = serde_json::from_str(&ports).unwrap();
    assert_eq!(ports[0]["port"], "ge-0/0/12");
    assert_eq!(ports[0]["profile"], "ap");

    let (ok, events, _) = mesa(&config, &["events", "--json"]);
    assert!(ok);
    let events: serde_json::Value = serde_json::from_str(&events).unwrap();
    assert_eq!(events[0]["outcome"]["outcome"], "applied");
    assert_eq!(events[0]["event"]["source"], "replay");

    let (ok, table, _) = mesa(&config, &["ports"]);
    assert!(
        ok && table.contains("sw1") && table.contains("ge-0/0/12"),
        "{table}"
    );
}
