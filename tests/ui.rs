//! The status page's contract over real HTTP (reqwest, redirects not followed): `/` goes to
//! `/ui/`, no page without a session when a token is configured, login / logout, the session
//! cookie's flags (Secure under TLS), and forms refused without their CSRF token.

mod support;

use mesa::config::Secret;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

const TOKEN: &str = "ui-test-token";
const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

/// A certificate for localhost (openssl CLI, as tests/tls.rs makes it).
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
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

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Token configured, actions on.
async fn start() -> support::mesa::TestMesa {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.server.api_token = Some(Secret::new(TOKEN));
    config.ui.actions = true;
    support::mesa::start_with(dir, config).await
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Logs in; returns the `name=value` of the session cookie and its whole Set-Cookie line.
async fn login(http: &reqwest::Client, base: &str) -> (String, String) {
    let r = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/");
    let set = r
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    let pair = set.split(';').next().unwrap().to_string();
    (pair, set)
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("page carries a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn no_page_without_a_session_and_the_login_contract() {
    let mesa = start().await;
    let http = client();
    let base = format!("http://{}", mesa.addr);

    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/");

    for page in [
        "/ui/",
        "/ui/decisions",
        &format!("/ui/sites/{SITE}"),
        "/ui/port?switch=sw1&port=ge-0/0/1",
        "/ui/ap/5c5b35aabbcc",
        "/ui/live",
    ] {
        let r = http.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(location(&r), "/ui/login", "{page}");
        let r = http
            .get(format!("{base}{page}"))
            .header(COOKIE, "mesa_session=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{page} with a forged cookie"
        );
    }

    let r = http.get(format!("{base}/ui/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(r#"name="token""#));

    let r = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(
        r.text().await.unwrap().contains(r#"name="token""#),
        "the form again"
    );

    let (cookie, set) = login(&http, &base).await;
    assert!(cookie.starts_with("mesa_session="));
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP: {set}");

    let r = http
        .get(format!("{base}/ui/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("Overview"));
    let csrf = csrf_of(&html);

    // Logout refuses a missing token, then ends the session.
    let r = http
        .post(format!("{base}/ui/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(format!("{base}/ui/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/login");
    let r = http
        .get(format!("{base}/ui/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn forms_refuse_a_missing_or_foreign_csrf_token() {
    let mesa = start().await;
    let http = client();
    let base = format!("http://{}", mesa.addr);
    let (cookie, _) = login(&http, &base).await;
    let (other, _) = login(&http, &base).await;
    let page = http
        .get(format!("{base}/ui/sites/{SITE}"))
        .header(COOKIE, &other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let others_csrf = csrf_of(&page);

    for csrf in ["", "nonsense", others_csrf.as_str()] {
        for (path, form) in [
            (
                format!("/ui/sites/{SITE}/hold"),
                vec![("csrf", csrf), ("for", "2h"), ("reason", "test")],
            ),
            (format!("/ui/sites/{SITE}/release"), vec![("csrf", csrf)]),
            (
                "/ui/decisions/retry".to_string(),
                vec![("csrf", csrf), ("event_id", "x")],
            ),
        ] {
            let r = http
                .post(format!("{base}{path}"))
                .header(COOKIE, &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
        }
    }
    // Nor without a session at all.
    let r = http
        .post(format!("{base}/ui/sites/{SITE}/hold"))
        .form(&[("csrf", others_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/login");
    assert!(mesa.app.store.maintenance_holds().await.unwrap().is_empty());

    // With its own token the same form sets the hold.
    let page = http
        .get(format!("{base}/ui/sites/{SITE}"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = http
        .post(format!("{base}/ui/sites/{SITE}/hold"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("for", "2h"),
            ("reason", "uplink swap"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let holds = mesa.app.store.maintenance_holds().await.unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].site_id, SITE);
    assert_eq!(holds[0].reason.as_deref(), Some("uplink swap"));

    let r = http
        .post(format!("{base}/ui/sites/{SITE}/release"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(mesa.app.store.maintenance_holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_session_cookie_is_secure_under_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut config = support::mesa::config(dir.path());
    config.server.api_token = Some(Secret::new(TOKEN));
    config.server.tls_cert = Some(cert.clone());
    config.server.tls_key = Some(key);
    let mesa = support::mesa::start_with(dir, config).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .resolve("localhost", mesa.addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", mesa.addr.port());
    let (_, set) = login(&http, &base).await;
    assert!(set.contains("; Secure"), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

#[tokio::test]
async fn without_any_token_the_pages_are_open_and_read_only() {
    let mesa = support::mesa::start().await;
    let http = client();
    let base = format!("http://{}", mesa.addr);
    let r = http.get(format!("{base}/ui/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = http
        .get(format!("{base}/ui/sites/{SITE}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Hold this site"), "no action offered");
    let r = http
        .post(format!("{base}/ui/sites/{SITE}/hold"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// A parked event (its runs never finished) retried from the timeline: a new event of the
/// same AP runs through the engine, once; a second press is refused.
#[tokio::test]
async fn a_failed_decision_is_retried_from_the_timeline() {
    use mesa::model::{ApEvent, EventKind, EventTime, Mac, Source};
    use mesa::sim::mist::FakeMist;
    use mesa::store::JournalEntry;

    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let mesa = support::mesa::start_with_mist(&fake, |c| {
        c.server.api_token = Some(Secret::new(TOKEN));
        c.ui.actions = true;
    })
    .await;
    let event = ApEvent {
        id: "parked-1".into(),
        kind: EventKind::ApConnected,
        ap_mac: ap.clone(),
        ap_name: Some("ap-lobby".into()),
        org_id: None,
        site_id: SITE.into(),
        site_name: Some("HQ".into()),
        timestamp: EventTime::from_secs(1_700_000_000),
        source: Source::Webhook,
        received_at: chrono::Utc::now(),
        known_port: None,
    };
    let failed = mesa::journal::parked(
        &JournalEntry {
            event: event.clone(),
            attempts: 5,
        },
        5,
        "dry-run",
    );
    mesa.app
        .store
        .journal_write(std::slice::from_ref(&event), &[failed])
        .await
        .unwrap();

    let http = client();
    let base = format!("http://{}", mesa.addr);
    let (cookie, _) = login(&http, &base).await;
    let page = http
        .get(format!("{base}/ui/decisions?outcome=failed"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Retry this event"), "{page}");
    let csrf = csrf_of(&page);
    let retry = |csrf: String| {
        http.post(format!("{base}/ui/decisions/retry"))
            .header(COOKIE, &cookie)
            .form(&[("csrf", csrf), ("event_id", "parked-1".to_string())])
            .send()
    };
    let r = retry(csrf.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    mesa.idle().await;
    let newest = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_ne!(newest.event.id, "parked-1");
    assert_eq!(newest.event.ap_mac, ap);
    assert_eq!(newest.event.source, Source::Replay);
    assert_eq!(newest.outcome.label(), "applied", "{newest:?}");
    assert_eq!(
        mesa.profile("sw1", "ge-0/0/12"),
        Some(mesa::model::Profile::Ap)
    );

    let r = retry(csrf).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "retried once only");
}

#[tokio::test]
async fn without_ui_actions_a_logged_in_user_only_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.ui.token = Some(Secret::new(TOKEN));
    let mesa = support::mesa::start_with(dir, config).await;
    let http = client();
    let base = format!("http://{}", mesa.addr);
    let (cookie, _) = login(&http, &base).await;
    let page = http
        .get(format!("{base}/ui/sites/{SITE}"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Hold this site"), "no action offered");
    let csrf = csrf_of(&page); // the logout form's
    let r = http
        .post(format!("{base}/ui/sites/{SITE}/hold"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("for", "2h")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(mesa.app.store.maintenance_holds().await.unwrap().is_empty());
}
