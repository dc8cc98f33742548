//! The `cso` backend against the fake CSO (`mesa::sim::cso`) over real HTTP on 127.0.0.1:
//! AP and secured changes, batching, already-in-place, every not-found with nothing
//! applied, token expiry and rejection, 5xx retries of reads, writes sent once.

use std::time::Duration;

use mesa::backend::cso::CsoBackend;
use mesa::backend::{BackendError, SwitchBackend};
use mesa::config::CsoProfile;
use mesa::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};
use mesa::sim::cso::{FakeAssociation, FakeCso};

const SITE: &str = "7c0b9a52-3f1e-4c55-9d1e-2b7c1e0f0a01";
const OTHER_SITE: &str = "0d7f4e9a-6b2c-4d8e-a1f3-5c9b8e7d6a02";
const SWITCH: &str = "sw-idf-1";

struct World {
    cso: FakeCso,
    device: String,
    ap_profile: String,
    secured_profile: String,
    corp: String,
    guest: String,
    ap_mgmt: String,
}

async fn world() -> World {
    let cso = FakeCso::start().await;
    let device = cso.add_device(SWITCH, SITE);
    cso.add_device("sw-idf-2", OTHER_SITE);
    let ap_profile = cso.add_port_profile("ap-trunk", "trunk");
    let secured_profile = cso.add_port_profile("secured-dot1x", "access");
    let corp = cso.add_lan_segment(SITE, "corp", 10);
    let guest = cso.add_lan_segment(SITE, "guest", 20);
    let ap_mgmt = cso.add_lan_segment(SITE, "ap-mgmt", 30);
    cso.add_lan_segment(OTHER_SITE, "elsewhere", 99);
    World {
        cso,
        device,
        ap_profile,
        secured_profile,
        corp,
        guest,
        ap_mgmt,
    }
}

fn profiles() -> (CsoProfile, CsoProfile) {
    (
        CsoProfile {
            port_profile: "ap-trunk".into(),
            native_vlan: Some("ap-mgmt".into()),
            vlan: None,
        },
        CsoProfile {
            port_profile: "secured-dot1x".into(),
            native_vlan: None,
            vlan: Some("corp".into()),
        },
    )
}

fn backend_with(w: &World, ap: CsoProfile, secured: CsoProfile) -> CsoBackend {
    CsoBackend::new(&w.cso.config(ap, secured))
        .unwrap()
        .with_retries(3, Duration::from_millis(10))
        .with_timeout(Duration::from_secs(5))
}

fn backend(w: &World) -> CsoBackend {
    let (ap, secured) = profiles();
    backend_with(w, ap, secured)
}

fn switch(name: &str) -> SwitchRef {
    SwitchRef {
        name: name.into(),
        site_id: "mist-site".into(),
        mac: None,
        mgmt_addr: None,
    }
}

fn change(switch_name: &str, port: &str, profile: Profile) -> PortChange {
    PortChange {
        switch: switch(switch_name),
        port: InterfaceName::parse(port).unwrap(),
        profile,
        ap: ApRef {
            mac: Mac::parse("5c5b353e5299").unwrap(),
            name: Some("ap-hall".into()),
        },
        site_name: None,
        reason: "test".into(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn nothing_written(cso: &FakeCso) {
    assert!(
        cso.applies().is_empty(),
        "apply called: {:?}",
        cso.applies()
    );
    assert!(
        cso.deploys().is_empty(),
        "deploy called: {:?}",
        cso.deploys()
    );
}

#[tokio::test]
async fn ap_port_gets_trunk_profile_all_site_segments_and_native() {
    let w = world().await;
    let b = backend(&w);
    assert_eq!(b.kind(), "cso");
    let results = b
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].changed);
    assert!(
        results[0].diff.contains(
            "port profile (none) -> \"ap-trunk\", LAN segments [ap-mgmt, corp, guest], native ap-mgmt"
        ),
        "{}",
        results[0].diff
    );
    let assoc = w.cso.association(&w.device, "ge-0/0/12").unwrap();
    assert_eq!(
        assoc,
        FakeAssociation {
            port_profile_uuid: w.ap_profile.clone(),
            lan_segment_uuids: sorted(vec![w.corp.clone(), w.guest.clone(), w.ap_mgmt.clone()]),
            native_lan_segment_uuid: Some(w.ap_mgmt.clone()),
            deployed: true,
        }
    );
    // Everything read before the first write, then one apply and one deploy.
    let paths: Vec<String> = w.cso.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [
            "/v3/auth/tokens",
            "/data-view-central/device",
            "/tssm/port-profile",
            "/topology-service/lan-segment/_filter",
            "/tssm/port-config-association",
            "/tssm/apply-port-config-association",
            "/tssm/deploy-port-config-association",
        ]
    );
    let deploy = &w.cso.deploys()[0];
    assert_eq!(deploy["input"]["device_uuid"], w.device.as_str());
    assert_eq!(
        deploy["input"]["port_names"],
        serde_json::json!(["ge-0/0/12"])
    );
}

#[tokio::test]
async fn secured_port_gets_access_profile_and_its_vlan() {
    let w = world().await;
    w.cso.set_association(
        &w.device,
        "ge-0/0/5",
        FakeAssociation {
            port_profile_uuid: w.ap_profile.clone(),
            lan_segment_uuids: vec![w.corp.clone()],
            native_lan_segment_uuid: None,
            deployed: true,
        },
    );
    let results = backend(&w)
        .apply(
            &switch(SWITCH),
            &[change(SWITCH, "ge-0/0/5", Profile::Secured)],
        )
        .await
        .unwrap();
    assert!(results[0].changed);
    assert!(
        results[0]
            .diff
            .contains("port profile \"ap-trunk\" -> \"secured-dot1x\", LAN segments [corp]"),
        "{}",
        results[0].diff
    );
    let assoc = w.cso.association(&w.device, "ge-0/0/5").unwrap();
    assert_eq!(assoc.port_profile_uuid, w.secured_profile);
    assert_eq!(assoc.lan_segment_uuids, vec![w.corp.clone()]);
    assert_eq!(assoc.native_lan_segment_uuid, None);
    assert!(assoc.deployed);
}

#[tokio::test]
async fn a_batch_is_one_apply_and_one_deploy_and_in_place_ports_are_left_alone() {
    let w = world().await;
    let b = backend(&w);
    b.apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/1", Profile::Ap)])
        .await
        .unwrap();
    let batch = [
        change(SWITCH, "ge-0/0/1", Profile::Ap),
        change(SWITCH, "ge-0/0/2", Profile::Ap),
        change(SWITCH, "ge-0/0/3", Profile::Secured),
    ];
    let results = b.apply(&switch(SWITCH), &batch).await.unwrap();
    let changed: Vec<bool> = results.iter().map(|r| r.changed).collect();
    assert_eq!(changed, [false, true, true]);
    assert!(results[0].diff.is_empty());
    let applies = w.cso.applies();
    assert_eq!(applies.len(), 2);
    let ports: Vec<&str> = applies[1]["input"]["port_config_associations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port_name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["ge-0/0/2", "ge-0/0/3"]);
    assert_eq!(w.cso.deploys().len(), 2);

    // All in place: no write at all.
    let again = b.apply(&switch(SWITCH), &batch).await.unwrap();
    assert!(again.iter().all(|r| !r.changed));
    assert_eq!(w.cso.applies().len(), 2);
    assert_eq!(w.cso.deploys().len(), 2);
}

#[tokio::test]
async fn applied_but_not_deployed_is_not_in_place() {
    let w = world().await;
    w.cso.set_association(
        &w.device,
        "ge-0/0/7",
        FakeAssociation {
            port_profile_uuid: w.secured_profile.clone(),
            lan_segment_uuids: vec![w.corp.clone()],
            native_lan_segment_uuid: None,
            deployed: false,
        },
    );
    let results = backend(&w)
        .apply(
            &switch(SWITCH),
            &[change(SWITCH, "ge-0/0/7", Profile::Secured)],
        )
        .await
        .unwrap();
    assert!(results[0].changed);
    assert!(results[0].diff.contains("(not deployed)"));
    assert!(w.cso.association(&w.device, "ge-0/0/7").unwrap().deployed);
}

async fn expect_not_found(w: &World, b: &CsoBackend, changes: &[PortChange], needle: &str) {
    let sw = changes[0].switch.clone();
    match b.apply(&sw, changes).await {
        Err(BackendError::NotFound(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected NotFound({needle}), got {other:?}"),
    }
    nothing_written(&w.cso);
}

#[tokio::test]
async fn every_missing_object_is_named_and_nothing_is_applied() {
    let w = world().await;
    let (ap, secured) = profiles();
    expect_not_found(
        &w,
        &backend(&w),
        &[change("sw-unknown", "ge-0/0/1", Profile::Ap)],
        "CSO: no device named \"sw-unknown\"",
    )
    .await;

    let bad_ap = CsoProfile {
        port_profile: "ap-trunk-typo".into(),
        ..ap.clone()
    };
    expect_not_found(
        &w,
        &backend_with(&w, bad_ap, secured.clone()),
        &[change(SWITCH, "ge-0/0/1", Profile::Ap)],
        "CSO: no port profile named \"ap-trunk-typo\"",
    )
    .await;

    let bad_secured = CsoProfile {
        port_profile: "secured-typo".into(),
        ..secured.clone()
    };
    expect_not_found(
        &w,
        &backend_with(&w, ap.clone(), bad_secured.clone()),
        &[change(SWITCH, "ge-0/0/1", Profile::Secured)],
        "CSO: no port profile named \"secured-typo\"",
    )
    .await;

    let bad_native = CsoProfile {
        native_vlan: Some("ap-mgmt-typo".into()),
        ..ap.clone()
    };
    expect_not_found(
        &w,
        &backend_with(&w, bad_native, secured.clone()),
        &[change(SWITCH, "ge-0/0/1", Profile::Ap)],
        "CSO: no LAN segment named \"ap-mgmt-typo\"",
    )
    .await;

    // A segment of another site does not count.
    let foreign_vlan = CsoProfile {
        vlan: Some("elsewhere".into()),
        ..secured.clone()
    };
    expect_not_found(
        &w,
        &backend_with(&w, ap.clone(), foreign_vlan),
        &[change(SWITCH, "ge-0/0/1", Profile::Secured)],
        "CSO: no LAN segment named \"elsewhere\"",
    )
    .await;

    // One bad change in a batch: the good ones before it are not applied either.
    expect_not_found(
        &w,
        &backend_with(&w, ap, bad_secured),
        &[
            change(SWITCH, "ge-0/0/1", Profile::Ap),
            change(SWITCH, "ge-0/0/2", Profile::Ap),
            change(SWITCH, "ge-0/0/3", Profile::Secured),
        ],
        "secured-typo",
    )
    .await;
    assert!(w.cso.state().associations.is_empty());
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_once() {
    let w = world().await;
    // Login, devices, profiles go through; the segment filter meets a revoked token.
    w.cso.expire_tokens_after(2);
    let results = backend(&w)
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert_eq!(w.cso.logins(), 2);
    let refused: Vec<String> = w
        .cso
        .calls()
        .into_iter()
        .filter(|c| !c.authorized)
        .map(|c| c.path)
        .collect();
    assert_eq!(refused, ["/topology-service/lan-segment/_filter"]);
    assert_eq!(w.cso.call_count("/topology-service/lan-segment/_filter"), 2);
    assert!(w.cso.association(&w.device, "ge-0/0/12").unwrap().deployed);
}

#[tokio::test]
async fn a_cso_refusing_every_token_is_an_auth_error_after_one_renewal() {
    let w = world().await;
    w.cso.reject_all_tokens();
    let err = backend(&w)
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Auth(_)), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(w.cso.logins(), 2, "first login and exactly one renewal");
    assert_eq!(w.cso.call_count("/data-view-central/device"), 2);
    nothing_written(&w.cso);
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error_without_retries() {
    let w = world().await;
    let (ap, secured) = profiles();
    let mut cfg = w.cso.config(ap, secured);
    cfg.password = Some(mesa::config::Secret::new("wrong"));
    let b = CsoBackend::new(&cfg)
        .unwrap()
        .with_retries(3, Duration::from_millis(10));
    let err = b
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap_err();
    match &err {
        BackendError::Auth(m) => assert!(m.contains("user \"mesa\" for tenant \"campus\""), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.cso.call_count("/v3/auth/tokens"), 1);
    assert!(
        !format!("{err}").contains("wrong"),
        "no password in messages"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let w = world().await;
    w.cso.fail_next_with_status(2, 503);
    let results = backend(&w)
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    // The login was answered 503 twice, then went through.
    assert_eq!(w.cso.call_count("/v3/auth/tokens"), 3);

    // Mid-run: the apply call itself fails. A write is sent once: CSO may have acted on it.
    w.cso
        .fail_next_calls_to("/tssm/apply-port-config-association", 1, 500);
    let b = backend(&w);
    let batch = [change(SWITCH, "ge-0/0/13", Profile::Ap)];
    let err = b.apply(&switch(SWITCH), &batch).await.unwrap_err();
    assert!(matches!(err, BackendError::Uncertain(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(w.cso.call_count("/tssm/apply-port-config-association"), 2);
    assert_eq!(w.cso.deploys().len(), 1, "no deploy after a failed apply");
    // The engine's next attempt goes through.
    let results = b.apply(&switch(SWITCH), &batch).await.unwrap();
    assert!(results[0].changed);
    assert_eq!(w.cso.call_count("/tssm/apply-port-config-association"), 3);
    assert_eq!(w.cso.applies().len(), 2);
    assert_eq!(w.cso.deploys().len(), 2);
}

/// A deploy POST that failed may still have started a job in CSO: sending it again could
/// start a second one. It is sent once and reported `Uncertain`; the next attempt of the
/// batch finds the association applied but not deployed and deploys it.
#[tokio::test]
async fn a_failed_deploy_is_not_resent_and_is_uncertain() {
    let w = world().await;
    let b = backend(&w);
    w.cso
        .fail_next_calls_to("/tssm/deploy-port-config-association", 1, 500);
    let batch = [change(SWITCH, "ge-0/0/12", Profile::Ap)];
    let err = b.apply(&switch(SWITCH), &batch).await.unwrap_err();
    assert!(matches!(err, BackendError::Uncertain(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(
        w.cso.call_count("/tssm/deploy-port-config-association"),
        1,
        "exactly one deploy POST"
    );
    assert_eq!(w.cso.applies().len(), 1);
    assert!(w.cso.deploys().is_empty());

    let results = b.apply(&switch(SWITCH), &batch).await.unwrap();
    assert!(
        results[0].changed,
        "applied but never deployed is not in place"
    );
    assert_eq!(w.cso.call_count("/tssm/deploy-port-config-association"), 2);
    assert_eq!(w.cso.deploys().len(), 1);
}

#[tokio::test]
async fn server_errors_that_last_are_unreachable_and_transient() {
    let w = world().await;
    let b = backend(&w).with_retries(2, Duration::from_millis(5));
    // Warm the token, then CSO breaks down.
    b.apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/1", Profile::Ap)])
        .await
        .unwrap();
    let applies = w.cso.applies().len();
    w.cso.fail_next_with_status(10, 502);
    let err = b
        .apply(&switch(SWITCH), &[change(SWITCH, "ge-0/0/2", Profile::Ap)])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unreachable(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains("HTTP 502 after 3 attempts"),
        "{err}"
    );
    assert_eq!(w.cso.applies().len(), applies);
}
