//! A fake Juniper CSO over real HTTP, for the `cso` backend's tests.
//!
//! There is no public CSO OpenAPI in the reference folder. The endpoints are those of the
//! issue "Backends: Juniper CSO API and Mist Wired Assurance port overrides" and of the
//! original MESA README ("MESA server will contact CSO to get
//! the information required to generate the AP_profile configuration ... use CSO APIs to
//! apply it to the switchport and ask CSO to deploy the changes"). The shapes below are
//! defined here, from that description; where CSO follows OpenStack (Keystone v3 login,
//! `X-Subject-Token` / `X-Auth-Token`, `{"error": {...}}` bodies) the fake does too.
//!
//! | call | request | answer |
//! |---|---|---|
//! | `POST /v3/auth/tokens` | Keystone v3 password auth, project scope = tenant | 201, token in `X-Subject-Token`, body `{"token": {...}}`; 401 on bad credentials |
//! | `GET /data-view-central/device` | | `{"device": [{uuid, name, fq_name: [domain, tenant, site, name], parent_uuid: <site uuid>, parent_type: "site"}]}` |
//! | `GET /tssm/port-profile` | | `{"port-profile": [{uuid, name, fq_name: [domain, tenant, name], port_mode}]}` |
//! | `POST /topology-service/lan-segment/_filter` | `{"query": {"parent_uuid": <site uuid>}}` | `{"lan-segment": [{uuid, name, fq_name, parent_uuid, vlan_id}]}` |
//! | `GET /tssm/port-config-association?device_uuid=` | | `{"port-config-association": [{device_uuid, port_name, port_profile_uuid, lan_segment_uuids, native_lan_segment_uuid, deploy_status: "deployed" \| "pending"}]}` |
//! | `POST /tssm/apply-port-config-association` | `{"input": {device_uuid, port_config_associations: [{port_name, port_profile_uuid, lan_segment_uuids, native_lan_segment_uuid}]}}` | `{"output": {"status": "success"}}`; the ports become `pending` |
//! | `POST /tssm/deploy-port-config-association` | `{"input": {device_uuid, port_names}}` | `{"output": {"job_id": ...}}`; the ports become `deployed` |
//!
//! Every call except the login needs a valid `X-Auth-Token` (else 401). Tests can revoke all
//! tokens after N calls, reject every token, inject 5xx answers (any call or one path), and read the call log and
//! the apply / deploy bodies.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::config::{CsoConfig, CsoProfile, Secret};

pub const DOMAIN: &str = "default-domain";

/// A request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Whether the token was accepted (always true for the login).
    pub authorized: bool,
}

#[derive(Debug, Clone)]
pub struct FakeDevice {
    pub uuid: String,
    pub name: String,
    pub site_uuid: String,
}

#[derive(Debug, Clone)]
pub struct FakeObject {
    pub uuid: String,
    pub name: String,
    /// Site for LAN segments; empty for port profiles.
    pub parent_uuid: String,
    pub vlan_id: Option<u32>,
    pub port_mode: Option<String>,
}

/// One port's association in the fake's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAssociation {
    pub port_profile_uuid: String,
    pub lan_segment_uuids: Vec<String>,
    pub native_lan_segment_uuid: Option<String>,
    pub deployed: bool,
}

#[derive(Debug, Default)]
struct Faults {
    server_errors: u32,
    server_status: u16,
    /// Authorized calls left before every token issued so far is revoked.
    revoke_after: Option<u32>,
    reject_all_tokens: bool,
    /// Path → (calls left, status).
    path_errors: BTreeMap<String, (u32, u16)>,
}

#[derive(Debug, Default)]
pub struct CsoState {
    pub devices: Vec<FakeDevice>,
    pub profiles: Vec<FakeObject>,
    pub segments: Vec<FakeObject>,
    /// (device uuid, port name) → association.
    pub associations: BTreeMap<(String, String), FakeAssociation>,
    pub calls: Vec<Call>,
    /// Bodies of every accepted apply / deploy call, in order.
    pub applies: Vec<Value>,
    pub deploys: Vec<Value>,
    pub logins: u32,
    tokens: HashSet<String>,
    faults: Faults,
}

struct Shared {
    username: String,
    password: String,
    tenant: String,
    state: Mutex<CsoState>,
}

type AppState = Arc<Shared>;

/// A running fake CSO. Dropping it stops the server.
pub struct FakeCso {
    addr: SocketAddr,
    shared: AppState,
    server: JoinHandle<()>,
}

impl Drop for FakeCso {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl FakeCso {
    /// Starts on `127.0.0.1:0`; user `mesa`, a random password, tenant `campus`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> FakeCso {
        let shared = Arc::new(Shared {
            username: "mesa".into(),
            password: format!("pw-{}", uuid::Uuid::new_v4().simple()),
            tenant: "campus".into(),
            state: Mutex::new(CsoState::default()),
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("fake CSO cannot listen on 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("fake CSO has no local address: {e}"),
        };
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake CSO server stopped");
            }
        });
        FakeCso {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `[backend.cso]` section for this fake with the given profile names.
    pub fn config(&self, ap: CsoProfile, secured: CsoProfile) -> CsoConfig {
        CsoConfig {
            url: self.url(),
            username: self.shared.username.clone(),
            password: Some(Secret::new(self.shared.password.clone())),
            tenant: self.shared.tenant.clone(),
            ap_profile: ap,
            secured_profile: secured,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, CsoState> {
        lock(&self.shared)
    }

    /// Adds a switch on `site_uuid`; returns its uuid.
    pub fn add_device(&self, name: &str, site_uuid: &str) -> String {
        let id = uuid();
        self.state().devices.push(FakeDevice {
            uuid: id.clone(),
            name: name.into(),
            site_uuid: site_uuid.into(),
        });
        id
    }

    pub fn add_port_profile(&self, name: &str, port_mode: &str) -> String {
        let id = uuid();
        self.state().profiles.push(FakeObject {
            uuid: id.clone(),
            name: name.into(),
            parent_uuid: String::new(),
            vlan_id: None,
            port_mode: Some(port_mode.into()),
        });
        id
    }

    pub fn add_lan_segment(&self, site_uuid: &str, name: &str, vlan_id: u32) -> String {
        let id = uuid();
        self.state().segments.push(FakeObject {
            uuid: id.clone(),
            name: name.into(),
            parent_uuid: site_uuid.into(),
            vlan_id: Some(vlan_id),
            port_mode: None,
        });
        id
    }

    pub fn association(&self, device_uuid: &str, port: &str) -> Option<FakeAssociation> {
        self.state()
            .associations
            .get(&(device_uuid.to_string(), port.to_string()))
            .cloned()
    }

    pub fn set_association(&self, device_uuid: &str, port: &str, assoc: FakeAssociation) {
        self.state()
            .associations
            .insert((device_uuid.to_string(), port.to_string()), assoc);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Calls to `path` (exact, without query).
    pub fn call_count(&self, path: &str) -> usize {
        self.state().calls.iter().filter(|c| c.path == path).count()
    }

    pub fn applies(&self) -> Vec<Value> {
        self.state().applies.clone()
    }

    pub fn deploys(&self) -> Vec<Value> {
        self.state().deploys.clone()
    }

    pub fn logins(&self) -> u32 {
        self.state().logins
    }

    /// The next `n` calls (login included) answer `status`.
    pub fn fail_next_with_status(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.faults.server_errors = n;
        state.faults.server_status = status;
    }

    /// The next `n` calls to `path` answer `status`, before any token check.
    pub fn fail_next_calls_to(&self, path: &str, n: u32, status: u16) {
        self.state()
            .faults
            .path_errors
            .insert(path.to_string(), (n, status));
    }

    /// After `n` more authorized calls, every token issued so far stops working (once).
    pub fn expire_tokens_after(&self, n: u32) {
        self.state().faults.revoke_after = Some(n);
    }

    /// Every token is refused, fresh ones included (logins still succeed).
    pub fn reject_all_tokens(&self) {
        self.state().faults.reject_all_tokens = true;
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, CsoState> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(shared: AppState) -> Router {
    Router::new()
        .route("/v3/auth/tokens", post(login))
        .route("/data-view-central/device", get(devices))
        .route("/tssm/port-profile", get(port_profiles))
        .route("/topology-service/lan-segment/_filter", post(lan_segments))
        .route("/tssm/port-config-association", get(associations))
        .route("/tssm/apply-port-config-association", post(apply))
        .route("/tssm/deploy-port-config-association", post(deploy))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Keystone-style error body.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message,
                                "title": status.canonical_reason().unwrap_or("")}});
    (status, Json(body)).into_response()
}

/// Call log, programmed 5xx, token check, token revocation countdown.
async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let is_login = path == "/v3/auth/tokens";
    let token = request
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut guard = lock(&shared);
        let state = &mut *guard;
        let mut authorized = is_login
            || (!state.faults.reject_all_tokens
                && token.as_ref().is_some_and(|t| state.tokens.contains(t)));
        let faults = &mut state.faults;
        let targeted = faults
            .path_errors
            .get_mut(&path)
            .filter(|(left, _)| *left > 0)
            .map(|(left, status)| {
                *left -= 1;
                *status
            });
        let fault = targeted.or_else(|| {
            (faults.server_errors > 0).then(|| {
                faults.server_errors -= 1;
                faults.server_status
            })
        });
        if fault.is_none() && authorized && !is_login {
            if let Some(left) = faults.revoke_after.as_mut() {
                if *left == 0 {
                    faults.revoke_after = None;
                    state.tokens.clear();
                    authorized = false;
                } else {
                    *left -= 1;
                }
            }
        }
        state.calls.push(Call {
            method: request.method().to_string(),
            path,
            authorized,
        });
        if let Some(status) = fault {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return error(status, "injected failure");
        }
        if !authorized {
            return error(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            );
        }
    }
    next.run(request).await
}

/// `POST /v3/auth/tokens` (Keystone v3, password method, project scope).
async fn login(State(shared): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "Expecting to find auth in request body",
        );
    };
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let methods_ok = body
        .pointer("/auth/identity/methods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v == "password"));
    let user = text("/auth/identity/password/user/name");
    let password = text("/auth/identity/password/user/password");
    let user_domain = text("/auth/identity/password/user/domain/id");
    let project = text("/auth/scope/project/name");
    let project_domain = text("/auth/scope/project/domain/id");
    let ok = methods_ok
        && user.as_deref() == Some(shared.username.as_str())
        && password.as_deref() == Some(shared.password.as_str())
        && user_domain.as_deref() == Some("default")
        && project.as_deref() == Some(shared.tenant.as_str())
        && project_domain.as_deref() == Some("default");
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        );
    }
    let token = format!("gAAAA{}", uuid::Uuid::new_v4().simple());
    {
        let mut state = lock(&shared);
        state.tokens.insert(token.clone());
        state.logins += 1;
    }
    let answer = json!({"token": {
        "methods": ["password"],
        "user": {"name": shared.username, "domain": {"id": "default"}},
        "project": {"name": shared.tenant, "domain": {"id": "default"}},
        "expires_at": "2099-01-01T00:00:00.000000Z",
    }});
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    if let Ok(value) = token.parse() {
        response.headers_mut().insert("x-subject-token", value);
    }
    response
}

async fn devices(State(shared): State<AppState>) -> Response {
    let state = lock(&shared);
    let list: Vec<Value> = state
        .devices
        .iter()
        .map(|d| {
            json!({"uuid": d.uuid, "name": d.name,
                   "fq_name": [DOMAIN, shared.tenant, format!("site-{}", &d.site_uuid), d.name],
                   "parent_uuid": d.site_uuid, "parent_type": "site",
                   "device_family": "juniper-ex", "management_state": "managed"})
        })
        .collect();
    Json(json!({"device": list})).into_response()
}

async fn port_profiles(State(shared): State<AppState>) -> Response {
    let state = lock(&shared);
    let list: Vec<Value> = state
        .profiles
        .iter()
        .map(|p| {
            json!({"uuid": p.uuid, "name": p.name, "fq_name": [DOMAIN, shared.tenant, p.name],
                   "port_mode": p.port_mode})
        })
        .collect();
    Json(json!({"port-profile": list})).into_response()
}

async fn lan_segments(State(shared): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(site) = body
        .as_ref()
        .and_then(|Json(b)| b.pointer("/query/parent_uuid"))
        .and_then(Value::as_str)
    else {
        return error(StatusCode::BAD_REQUEST, "query.parent_uuid is required");
    };
    let state = lock(&shared);
    let list: Vec<Value> = state
        .segments
        .iter()
        .filter(|s| s.parent_uuid == site)
        .map(|s| {
            json!({"uuid": s.uuid, "name": s.name,
                   "fq_name": [DOMAIN, shared.tenant, format!("site-{site}"), s.name],
                   "parent_uuid": s.parent_uuid, "parent_type": "site", "vlan_id": s.vlan_id})
        })
        .collect();
    Json(json!({"lan-segment": list})).into_response()
}

async fn associations(
    State(shared): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(device) = q.get("device_uuid") else {
        return error(StatusCode::BAD_REQUEST, "device_uuid is required");
    };
    let state = lock(&shared);
    let list: Vec<Value> = state
        .associations
        .iter()
        .filter(|((d, _), _)| d == device)
        .map(|((d, port), a)| {
            json!({"device_uuid": d, "port_name": port, "port_profile_uuid": a.port_profile_uuid,
                   "lan_segment_uuids": a.lan_segment_uuids,
                   "native_lan_segment_uuid": a.native_lan_segment_uuid,
                   "deploy_status": if a.deployed { "deployed" } else { "pending" }})
        })
        .collect();
    Json(json!({"port-config-association": list})).into_response()
}

/// Checks every reference before changing anything, as a transactional API would.
async fn apply(State(shared): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "body required");
    };
    let device = body
        .pointer("/input/device_uuid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ports = body
        .pointer("/input/port_config_associations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut state = lock(&shared);
    if !state.devices.iter().any(|d| d.uuid == device) {
        return error(StatusCode::NOT_FOUND, &format!("device {device} not found"));
    }
    let mut parsed = Vec::new();
    for port in &ports {
        let name = port.get("port_name").and_then(Value::as_str);
        let profile = port.get("port_profile_uuid").and_then(Value::as_str);
        let (Some(name), Some(profile)) = (name, profile) else {
            return error(
                StatusCode::BAD_REQUEST,
                "port_name and port_profile_uuid are required",
            );
        };
        if !state.profiles.iter().any(|p| p.uuid == profile) {
            return error(
                StatusCode::NOT_FOUND,
                &format!("port profile {profile} not found"),
            );
        }
        let segments = strings(port.get("lan_segment_uuids"));
        let native = port
            .get("native_lan_segment_uuid")
            .and_then(Value::as_str)
            .map(str::to_string);
        for seg in segments.iter().chain(native.iter()) {
            if !state.segments.iter().any(|s| &s.uuid == seg) {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!("lan segment {seg} not found"),
                );
            }
        }
        parsed.push((
            name.to_string(),
            FakeAssociation {
                port_profile_uuid: profile.to_string(),
                lan_segment_uuids: segments,
                native_lan_segment_uuid: native,
                deployed: false,
            },
        ));
    }
    for (port, assoc) in parsed {
        state.associations.insert((device.clone(), port), assoc);
    }
    state.applies.push(body);
    Json(json!({"output": {"status": "success"}})).into_response()
}

/// The strings of a JSON array (none when it is missing or not an array).
fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn deploy(State(shared): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "body required");
    };
    let device = body
        .pointer("/input/device_uuid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ports = strings(body.pointer("/input/port_names"));
    let mut state = lock(&shared);
    for port in ports {
        if let Some(a) = state.associations.get_mut(&(device.clone(), port)) {
            a.deployed = true;
        }
    }
    state.deploys.push(body);
    Json(json!({"output": {"job_id": uuid()}})).into_response()
}
