//! The status page in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver + fantoccini). Log in, the overview of a seeded store, a site's port grid,
//! a port page, a decision appearing live after a webhook (no reload), a hold set from the
//! page. Screenshots of each page go to `target/ui-screenshots/` (and to `docs/ui/` with
//! `MESA_UI_DOCS=1`, to refresh the committed set). The test starts chromedriver (which
//! starts Chromium) in its own process group and kills the group when it ends.

mod support;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use mesa::config::Secret;
use mesa::model::{InterfaceName, Mac, Profile};
use mesa::sim::mist::FakeMist;
use mesa::store::PortRecord;
use support::mesa::{device_event, start_with_mist, TestMesa};

const TOKEN: &str = "browser-test-token";
const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver and every Chromium it started: killed (the whole process group) on drop.
struct Chromedriver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
    profile_dir: PathBuf,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let profile = tempfile::tempdir().expect("temp dir");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver is installed (scripts/test-all.sh installs chromium-driver)");
        let profile_dir = profile.path().join("chromium");
        Chromedriver {
            child,
            port,
            _profile: profile,
            profile_dir,
        }
    }

    async fn connect(&self) -> Client {
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--user-data-dir={}", self.profile_dir.display()),
                ]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let started = std::time::Instant::now();
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                Err(e) if started.elapsed() < WAIT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0)): it and its Chromium only.
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // touched.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("target/ui-screenshots")];
    if std::env::var_os("MESA_UI_DOCS").is_some() {
        dirs.push(root.join("docs/ui"));
    }
    dirs
}

async fn shoot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    for dir in screenshot_dirs() {
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("screenshot written");
    }
}

async fn connect(mesa: &TestMesa, ap: &Mac, at: i64) {
    let r = mesa
        .post_signed(&device_event("AP_CONNECTED", ap.as_str(), SITE, at))
        .await;
    assert_eq!(r.status(), 200);
}

/// A site with two switches: APs on ports of sw1 (one of them gone again, so its port is
/// secured), and ports of sw2 recorded directly.
async fn seeded() -> (FakeMist, TestMesa, Vec<Mac>) {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw1 = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw1, "sw1", SITE, "10.0.0.11");
    let aps: Vec<Mac> = (1..=7)
        .map(|i| Mac::parse(&format!("5c5b350000{i:02}")).unwrap())
        .collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw1, &format!("ge-0/0/{}", i * 3 + 1));
    }
    let mesa = start_with_mist(&fake, |c| {
        c.server.api_token = Some(Secret::new(TOKEN));
        c.ui.actions = true;
    })
    .await;
    for (i, ap) in aps.iter().take(5).enumerate() {
        connect(&mesa, ap, 1_700_000_000 + i as i64).await;
    }
    mesa.idle().await;
    fake.unplug_ap(&aps[4]);
    let r = mesa
        .post_signed(&device_event(
            "AP_DISCONNECTED",
            aps[4].as_str(),
            SITE,
            1_700_000_400,
        ))
        .await;
    assert_eq!(r.status(), 200);
    mesa.idle().await;
    for n in [0, 1, 2, 3, 12, 13, 40, 47] {
        mesa.app
            .store
            .upsert_port(&PortRecord {
                switch_name: "sw2".into(),
                switch_mac: Some(Mac::parse("d420b0000002").unwrap()),
                port: InterfaceName::parse(&format!("mge-0/0/{n}")).unwrap(),
                site_id: SITE.into(),
                profile: if n % 3 == 0 {
                    Profile::Secured
                } else {
                    Profile::Ap
                },
                managed: true,
                ap_mac: None,
                since: chrono::Utc::now(),
                event_id: None,
            })
            .await
            .unwrap();
    }
    (fake, mesa, aps)
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_looks_around_sees_a_live_decision_and_holds_a_site() {
    let (_fake, mesa, aps) = seeded().await;
    let driver = Chromedriver::start();
    let browser = driver.connect().await;
    let base = format!("http://{}", mesa.addr);

    // No page without the token: the overview sends the browser to the login form.
    browser.goto(&format!("{base}/ui/")).await.unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/ui/login"));
    shoot(&browser, "login").await;
    let field = browser.find(Locator::Id("token")).await.unwrap();
    field.send_keys(TOKEN).await.unwrap();
    browser
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_of(&browser, "table.sites").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/ui/");

    // Overview of the seeded store: the site with its port counts.
    let row = text_of(&browser, "table.sites tbody tr").await;
    assert!(row.contains("HQ"), "{row}");
    text_of(&browser, "#live-state").await;
    shoot(&browser, "overview").await;

    // Keyboard: the first Tab lands on the skip link (then nav, logout, the page links).
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Tab.to_string())
        .await
        .unwrap();
    let focused = browser
        .active_element()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(focused, "Skip to content");

    // Site → switches → port grid; colour comes with a glyph and an accessible label.
    browser
        .find(Locator::Css("table.sites tbody tr th a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let cell = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(r#"a.port[data-port="ge-0/0/1"]"#))
        .await
        .unwrap();
    assert_eq!(
        cell.attr("data-state").await.unwrap().as_deref(),
        Some("AP")
    );
    let label = cell.attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(label.contains("ge-0/0/1: AP"), "{label}");
    let secured = browser
        .find(Locator::Css(r#"a.port[data-port="ge-0/0/13"]"#))
        .await
        .unwrap();
    assert_eq!(
        secured.attr("data-state").await.unwrap().as_deref(),
        Some("secured"),
        "the AP that left gave its port back to the secured profile"
    );
    let grids = browser.find_all(Locator::Css("div.grid")).await.unwrap();
    assert_eq!(grids.len(), 2, "one 48-port row per switch member");
    shoot(&browser, "site").await;

    // A port page, from the grid, with its history and a link to its AP.
    cell.click().await.unwrap();
    let state = text_of(&browser, "#port-state").await;
    assert_eq!(state, "AP");
    let history = text_of(&browser, "#timeline").await;
    assert!(history.contains("applied"), "{history}");
    shoot(&browser, "port").await;

    // Its AP's page, linked from the port page, links back to the port.
    browser
        .find(Locator::Css("dl.facts a[href^='/ui/ap/']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let on = text_of(&browser, "dl.facts").await;
    assert!(on.contains("sw1 ge-0/0/1"), "{on}");
    shoot(&browser, "ap").await;
    browser.back().await.unwrap();
    text_of(&browser, "#port-state").await;

    // Phone width: the site page still lays out (the grid scrolls within its box).
    browser.set_window_size(390, 844).await.unwrap();
    browser.back().await.unwrap();
    text_of(&browser, "div.grid").await;
    shoot(&browser, "site-phone").await;
    browser.set_window_size(1280, 800).await.unwrap();

    // The decisions timeline updates live: a webhook's decision appears without a reload.
    browser.goto(&format!("{base}/ui/decisions")).await.unwrap();
    text_of(&browser, "#timeline").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//*[@id='live-state'][contains(., 'live updates: on')]",
        ))
        .await
        .expect("the page subscribed to /ui/live");
    browser
        .execute("window.__sameDocument = true; return true;", vec![])
        .await
        .unwrap();
    connect(&mesa, &aps[5], 1_700_000_500).await;
    let fresh = format!(
        "//li[contains(@class,'decision')]//a[contains(., 'ap-{}')]",
        aps[5].as_str()
    );
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&fresh))
        .await
        .expect("the new decision appears");
    let same = browser
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same, serde_json::Value::Bool(true), "no reload happened");
    shoot(&browser, "decisions-live").await;
    // An entry opens on its guard verdicts with their numbers.
    browser
        .find(Locator::Css("#timeline li.decision details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let verdicts = text_of(&browser, "#timeline li.decision table.verdicts").await;
    assert!(verdicts.contains("proceed"), "{verdicts}");
    shoot(&browser, "decision-detail").await;

    // The port grid follows too: a new AP's port turns AP on the open site page.
    browser
        .goto(&format!("{base}/ui/sites/{SITE}"))
        .await
        .unwrap();
    let port = r#"a.port[data-port="ge-0/0/19"]"#;
    let before = browser.find(Locator::Css(port)).await.unwrap();
    assert_eq!(
        before.attr("data-state").await.unwrap().as_deref(),
        Some("not managed")
    );
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//*[@id='live-state'][contains(., 'live updates: on')]",
        ))
        .await
        .unwrap();
    browser
        .execute("window.__sameDocument = true; return true;", vec![])
        .await
        .unwrap();
    connect(&mesa, &aps[6], 1_700_000_600).await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            r#"a.port[data-port="ge-0/0/19"][data-state="AP"]"#,
        ))
        .await
        .expect("the grid shows the new AP port without a reload");
    let same = browser
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same, serde_json::Value::Bool(true), "no reload happened");

    // A hold set from the site page (CSRF token in the form), shown on the page and stored.
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("hold-for"))
        .await
        .unwrap()
        .send_keys("2h")
        .await
        .unwrap();
    browser
        .find(Locator::Id("hold-reason"))
        .await
        .unwrap()
        .send_keys("uplink swap")
        .await
        .unwrap();
    browser
        .find(Locator::XPath("//button[contains(., 'Hold this site')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let held = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//*[@id='hold-state'][contains(., 'maintenance hold')]",
        ))
        .await
        .expect("the page shows the hold")
        .text()
        .await
        .unwrap();
    assert!(held.contains("uplink swap"), "{held}");
    let holds = mesa.app.store.maintenance_holds().await.unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].actor, "ui:token-holder");
    shoot(&browser, "site-held").await;

    browser.close().await.unwrap();
}
