//! A fake Mist cloud over real HTTP, for the tests, `mesa demo` and the benchmarks.
//!
//! It serves the handful of endpoints mesa reads and writes, with the response shapes of the
//! Mist OpenAPI spec (public Mist-Automation-Programmability/mist_openapi; each handler names its
//! schema), over an axum server on `127.0.0.1:0`. Tests mutate the world through
//! [`FakeMist`]'s builders (plug an AP into a switch port, cut a site off, move an AP), inject
//! faults (429 with or without `Retry-After`, 5xx, latency) and read the call log to count
//! what the client really asked.
//!
//! Like the real cloud it can cap an endpoint's page size below the 1,000 asked for (the
//! `X-Page-*` headers tell), spend an hourly call budget and answer 429 once it is gone
//! (the real body, no `Retry-After`), keep a renamed switch's former names in `hostname`, and
//! decide a switch port's usage from `port_config`, `local_port_config` (when the port allows
//! it with `no_local_overwrite: false`) and dynamic port rules ([`FakeMist::effective_usage`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

use crate::config::{MistConfig, Secret};
use crate::mist::types::device_id;
use crate::model::Mac;

/// The org every site belongs to unless said otherwise (the org id of the spec's examples).
pub const ORG_ID: &str = "6748cfa6-4e12-11e6-9188-0242ac110007";

/// `components.examples.HTTP429Example` of the spec, also quoted in the reference README.
pub const RATE_LIMIT_DETAIL: &str =
    "Too Many Request. The API Token used for the request reached the 5000 API Calls per hour threshold";

#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub org_id: String,
}

/// What an AP learned by LLDP about the switch port it is plugged into.
#[derive(Debug, Clone, PartialEq)]
pub struct Lldp {
    pub system_name: String,
    pub port_id: String,
    pub port_desc: String,
    pub mgmt_addr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApStatus {
    Connected,
    Disconnected,
}

impl ApStatus {
    fn as_str(self) -> &'static str {
        match self {
            ApStatus::Connected => "connected",
            ApStatus::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FakeAp {
    pub mac: Mac,
    pub name: String,
    pub site_id: String,
    pub status: ApStatus,
    /// Epoch seconds.
    pub last_seen: f64,
    pub lldp: Option<Lldp>,
    /// The next N searches that return this AP leave out its LLDP fields, as Mist does for a
    /// freshly connected AP.
    pub lldp_hidden_for: u32,
    /// It stopped reporting (its site lost the uplink) and Mist has not declared it
    /// disconnected yet: `last_seen` stays where its last report left it.
    pub silent: bool,
}

/// One switch port as the switch reports it (`stats_switch_port`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakePort {
    pub up: bool,
    pub neighbor_mac: Option<Mac>,
    pub neighbor_system_name: Option<String>,
    pub neighbor_port_desc: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FakeSwitch {
    pub mac: Mac,
    pub hostname: String,
    pub site_id: String,
    pub ip: String,
    pub ports: BTreeMap<String, FakePort>,
}

/// A request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
}

#[derive(Debug, Default)]
struct Faults {
    rate_limited: u32,
    retry_after: Option<u64>,
    server_errors: u32,
    /// Like `server_errors`, for writes (PUT/POST) only.
    write_errors: u32,
    server_status: u16,
    latency: Duration,
    /// Calls allowed before every further call answers 429, until [`FakeMist::new_hour`].
    hourly_budget: Option<u32>,
    budget_used: u32,
    /// Top-level keys a device PUT answers 200 for but does not store.
    ignored_put_keys: Vec<String>,
}

/// The fake cloud's whole world. Reachable through [`FakeMist::state`] for anything the
/// builders do not cover.
#[derive(Debug, Default)]
pub struct MistState {
    pub sites: BTreeMap<String, Site>,
    pub aps: BTreeMap<Mac, FakeAp>,
    pub switches: BTreeMap<Mac, FakeSwitch>,
    /// Device configuration (`mist_device`) beyond the identity fields, per device MAC:
    /// `port_config` and whatever else a PUT sent.
    pub configs: HashMap<Mac, Map<String, Value>>,
    /// Switches that lost the cloud, with the epoch second Mist last heard from them.
    pub switches_down: BTreeMap<Mac, f64>,
    pub calls: Vec<Call>,
    /// When each programmed fault (429, 5xx) was answered, for harnesses that judge how long
    /// mesa took net of the time Mist refused it.
    pub refusals: Vec<crate::clock::Instant>,
    faults: Faults,
    /// Largest page per endpoint (`stats/devices`, `devices/search`, `inventory`), below
    /// Mist's usual 1,000.
    pub page_caps: HashMap<String, usize>,
    /// Answer `stats/devices` without `X-Page-Total` (only `X-Page-Limit` / `X-Page-Page`).
    pub hide_page_total: bool,
    /// Answer every `stats/devices` page with page 1 (a broken `page` parameter).
    pub ignore_page_param: bool,
    /// Former hostnames of renamed switches, oldest first.
    pub former_hostnames: HashMap<Mac, Vec<String>>,
    /// Usage the dynamic port rules assigned at run time, per (switch, port); applies where
    /// the port's `port_config` entry has `dynamic_usage`.
    pub dynamic_assignments: HashMap<(Mac, String), String>,
    /// LLDP neighbors Mist has not learned yet, per AP: the epoch second the AP's report
    /// carrying it arrives, and the neighbor ([`FakeMist::plug_ap_learning`]).
    pub lldp_learning: HashMap<Mac, (f64, Lldp)>,
}

impl MistState {
    /// Reports that have arrived by now: the AP's LLDP neighbor and its `last_seen` then.
    fn learn_due(&mut self) {
        let now = now();
        let due: Vec<Mac> = self
            .lldp_learning
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(mac, _)| mac.clone())
            .collect();
        for mac in due {
            if let (Some((at, lldp)), Some(ap)) =
                (self.lldp_learning.remove(&mac), self.aps.get_mut(&mac))
            {
                ap.lldp = Some(lldp);
                ap.last_seen = ap.last_seen.max(at);
            }
        }
    }
}

struct Shared {
    token: String,
    state: Mutex<MistState>,
}

type AppState = Arc<Shared>;

/// A running fake Mist cloud. Dropping it stops the server.
pub struct FakeMist {
    addr: SocketAddr,
    shared: AppState,
    server: JoinHandle<()>,
}

impl Drop for FakeMist {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Seconds since the Unix epoch on mesa's clock, as Mist stamps its data.
pub fn now() -> f64 {
    crate::clock::epoch_seconds()
}

impl FakeMist {
    /// Starts on `127.0.0.1:0` with a random token.
    ///
    /// # Panics
    /// If no loopback port can be bound; use [`FakeMist::try_start`] to handle that.
    pub async fn start() -> FakeMist {
        match FakeMist::try_start().await {
            Ok(fake) => fake,
            Err(e) => panic!("fake Mist cannot listen on 127.0.0.1: {e}"),
        }
    }

    pub async fn try_start() -> std::io::Result<FakeMist> {
        let shared = Arc::new(Shared {
            token: format!("fake-mist-{}", uuid::Uuid::new_v4().simple()),
            state: Mutex::new(MistState::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake Mist server stopped");
            }
        });
        Ok(FakeMist {
            addr,
            shared,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> String {
        self.shared.token.clone()
    }

    pub fn org_id(&self) -> &'static str {
        ORG_ID
    }

    /// A `[mist]` section pointing at this fake (token and org set, the rest default).
    pub fn mist_config(&self) -> MistConfig {
        MistConfig {
            api_url: self.url(),
            api_token: Some(Secret::new(self.token())),
            org_id: Some(ORG_ID.to_string()),
            ..MistConfig::default()
        }
    }

    /// Direct access to the world, for what the builders do not cover.
    pub fn state(&self) -> MutexGuard<'_, MistState> {
        lock(&self.shared)
    }

    pub fn add_site(&self, id: &str, name: &str) {
        self.add_site_in_org(id, name, ORG_ID);
    }

    pub fn add_site_in_org(&self, id: &str, name: &str, org_id: &str) {
        let site = Site {
            id: id.into(),
            name: name.into(),
            org_id: org_id.into(),
        };
        self.state().sites.insert(id.into(), site);
    }

    pub fn add_switch(&self, mac: &Mac, hostname: &str, site_id: &str, ip: &str) {
        let switch = FakeSwitch {
            mac: mac.clone(),
            hostname: hostname.into(),
            site_id: site_id.into(),
            ip: ip.into(),
            ports: BTreeMap::new(),
        };
        self.state().switches.insert(mac.clone(), switch);
    }

    /// A connected AP with no LLDP neighbor yet.
    pub fn add_ap(&self, mac: &Mac, name: &str, site_id: &str) {
        let ap = FakeAp {
            mac: mac.clone(),
            name: name.into(),
            site_id: site_id.into(),
            status: ApStatus::Connected,
            last_seen: now(),
            lldp: None,
            lldp_hidden_for: 0,
            silent: false,
        };
        self.state().aps.insert(mac.clone(), ap);
    }

    /// Plugs the AP (created if unknown) into `port` of `switch`: the AP is connected, on the
    /// switch's site, its LLDP names the switch and port; the port is up with the AP as
    /// neighbor. Does nothing if the switch is unknown.
    pub fn plug_ap(&self, ap: &Mac, switch: &Mac, port: &str) {
        let mut state = self.state();
        let Some(sw) = state.switches.get(switch).cloned() else {
            return;
        };
        state.lldp_learning.remove(ap);
        let lldp = Lldp {
            system_name: sw.hostname.clone(),
            port_id: port.into(),
            port_desc: port.into(),
            mgmt_addr: Some(sw.ip.clone()),
        };
        let ap_state = state.aps.entry(ap.clone()).or_insert_with(|| FakeAp {
            mac: ap.clone(),
            name: format!("ap-{}", &ap.as_str()[6..]),
            site_id: sw.site_id.clone(),
            status: ApStatus::Connected,
            last_seen: now(),
            lldp: None,
            lldp_hidden_for: 0,
            silent: false,
        });
        ap_state.site_id = sw.site_id.clone();
        ap_state.status = ApStatus::Connected;
        ap_state.silent = false;
        ap_state.last_seen = now();
        ap_state.lldp = Some(lldp);
        let ap_name = ap_state.name.clone();
        if let Some(sw) = state.switches.get_mut(switch) {
            sw.ports.insert(
                port.into(),
                FakePort {
                    up: true,
                    neighbor_mac: Some(ap.clone()),
                    neighbor_system_name: Some(ap_name),
                    neighbor_port_desc: Some("eth0".into()),
                },
            );
        }
    }

    /// Like [`FakeMist::plug_ap`], but Mist learns the AP's LLDP neighbor only `after` from
    /// now (the AP's first report carrying it): until then the AP is connected with no LLDP
    /// data and a `last_seen` of now; then its LLDP shows, with that report's `last_seen`.
    pub fn plug_ap_learning(&self, ap: &Mac, switch: &Mac, port: &str, after: Duration) {
        self.plug_ap(ap, switch, port);
        let mut state = self.state();
        if let Some(fake) = state.aps.get_mut(ap) {
            if let Some(lldp) = fake.lldp.take() {
                state
                    .lldp_learning
                    .insert(ap.clone(), (now() + after.as_secs_f64(), lldp));
            }
        }
    }

    /// The AP reconnects on `port` of `switch`, but until `after` from now Mist still shows
    /// what it last heard: the old LLDP neighbor with an old `last_seen` (`last_seen`, epoch
    /// seconds). Then the AP's report names the new port.
    pub fn replug_ap_reported_later(
        &self,
        ap: &Mac,
        switch: &Mac,
        port: &str,
        last_seen: f64,
        after: Duration,
    ) {
        let old = self.state().aps.get(ap).and_then(|a| a.lldp.clone());
        self.plug_ap_learning(ap, switch, port, after);
        if let Some(fake) = self.state().aps.get_mut(ap) {
            fake.lldp = old;
            fake.last_seen = last_seen;
        }
    }

    /// The cable is pulled: the AP's port goes down with no neighbor, the AP loses the cloud.
    /// Mist keeps showing the AP's last LLDP data, as it does for real.
    pub fn unplug_ap(&self, ap: &Mac) {
        let mut state = self.state();
        for sw in state.switches.values_mut() {
            for port in sw.ports.values_mut() {
                if port.neighbor_mac.as_ref() == Some(ap) {
                    *port = FakePort::default();
                }
            }
        }
        if let Some(ap) = state.aps.get_mut(ap) {
            ap.status = ApStatus::Disconnected;
            ap.last_seen = now();
        }
    }

    /// A `last_seen` in the past on a connected AP makes it silent (see [`FakeAp::silent`]).
    pub fn set_ap_status(&self, ap: &Mac, status: ApStatus, last_seen: f64) {
        if let Some(ap) = self.state().aps.get_mut(ap) {
            ap.status = status;
            ap.last_seen = last_seen;
            ap.silent = status == ApStatus::Connected && last_seen < now() - 1.0;
        }
    }

    /// Sets (or, with `None`, clears) what the AP reports by LLDP, e.g. an ifIndex `port_id`.
    pub fn set_ap_lldp(&self, ap: &Mac, lldp: Option<Lldp>) {
        if let Some(ap) = self.state().aps.get_mut(ap) {
            ap.lldp = lldp;
        }
    }

    /// The next `searches` device searches answer for this AP without LLDP fields.
    pub fn hide_lldp_for(&self, ap: &Mac, searches: u32) {
        if let Some(ap) = self.state().aps.get_mut(ap) {
            ap.lldp_hidden_for = searches;
        }
    }

    pub fn set_port(&self, switch: &Mac, port: &str, stats: FakePort) {
        if let Some(sw) = self.state().switches.get_mut(switch) {
            sw.ports.insert(port.into(), stats);
        }
    }

    /// A WAN cut: every AP and switch of the site loses the cloud now, while the APs stay
    /// plugged in (ports up, LLDP neighbors unchanged: Mist keeps the last port stats).
    pub fn site_outage(&self, site_id: &str) {
        let t = now();
        let mut state = self.state();
        for ap in state.aps.values_mut().filter(|ap| ap.site_id == site_id) {
            ap.status = ApStatus::Disconnected;
            ap.last_seen = t;
        }
        let switches: Vec<Mac> = state
            .switches
            .values()
            .filter(|sw| sw.site_id == site_id)
            .map(|sw| sw.mac.clone())
            .collect();
        for mac in switches {
            state.switches_down.insert(mac, t);
        }
    }

    /// The WAN is back: the site's switches and every AP still plugged in (the LLDP neighbor
    /// of a port) are connected again; APs unplugged meanwhile stay disconnected.
    pub fn site_restored(&self, site_id: &str) {
        let t = now();
        let mut state = self.state();
        let on_site: Vec<Mac> = state
            .switches
            .values()
            .filter(|sw| sw.site_id == site_id)
            .map(|sw| sw.mac.clone())
            .collect();
        for mac in &on_site {
            state.switches_down.remove(mac);
        }
        let plugged: std::collections::BTreeSet<Mac> = state
            .switches
            .values()
            .flat_map(|sw| sw.ports.values())
            .filter(|p| p.up)
            .filter_map(|p| p.neighbor_mac.clone())
            .collect();
        for ap in state.aps.values_mut().filter(|ap| ap.site_id == site_id) {
            if plugged.contains(&ap.mac) {
                ap.status = ApStatus::Connected;
                ap.last_seen = t;
                ap.silent = false;
            }
        }
    }

    /// The switch loses (`false`) or regains the cloud; its port stats stay as they were.
    pub fn set_switch_connected(&self, switch: &Mac, connected: bool) {
        let mut state = self.state();
        if connected {
            state.switches_down.remove(switch);
        } else {
            state.switches_down.insert(switch.clone(), now());
        }
    }

    /// The AP is unplugged from wherever it was and plugged into `port` of `switch` on
    /// `new_site` (the switch is expected to be on that site).
    pub fn move_ap(&self, ap: &Mac, new_site: &str, switch: &Mac, port: &str) {
        self.unplug_ap(ap);
        if let Some(ap) = self.state().aps.get_mut(ap) {
            ap.site_id = new_site.into();
        }
        self.plug_ap(ap, switch, port);
        if let Some(ap) = self.state().aps.get_mut(ap) {
            ap.site_id = new_site.into();
        }
    }

    /// The next `n` calls answer 429 with the spec's body, with `Retry-After: secs` if given.
    pub fn fail_next_with_429(&self, n: u32, retry_after: Option<u64>) {
        let mut state = self.state();
        state.faults.rate_limited = n;
        state.faults.retry_after = retry_after;
    }

    /// The next `n` calls answer `status` (500, 502, 503, ...).
    pub fn fail_next_with_status(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.faults.server_errors = n;
        state.faults.server_status = status;
    }

    /// The next `n` writes (PUT, POST) answer `status`; reads go through.
    pub fn fail_next_writes_with_status(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.faults.write_errors = n;
        state.faults.server_status = status;
    }

    /// Every call waits this long before being answered.
    pub fn set_latency(&self, latency: Duration) {
        self.state().faults.latency = latency;
    }

    /// Mist spends `calls` per hour for the token, then answers every call 429 (the real
    /// body, no `Retry-After`) until [`FakeMist::new_hour`]. `None`: unlimited.
    pub fn set_hourly_budget(&self, calls: Option<u32>) {
        let mut state = self.state();
        state.faults.hourly_budget = calls;
        state.faults.budget_used = 0;
    }

    /// The budget's hour turns: calls pass again.
    pub fn new_hour(&self) {
        self.state().faults.budget_used = 0;
    }

    /// Pages of `endpoint` (`stats/devices`, `devices/search`, `inventory`) hold at most `cap`
    /// entries whatever `limit` asks, as some Mist endpoints do.
    pub fn cap_page_size(&self, endpoint: &str, cap: usize) {
        self.state().page_caps.insert(endpoint.into(), cap.max(1));
    }

    /// The switch gets a new hostname; Mist keeps the old one in its `hostname` list.
    pub fn rename_switch(&self, mac: &Mac, new_name: &str) {
        let mut state = self.state();
        let Some(sw) = state.switches.get_mut(mac) else {
            return;
        };
        let old = std::mem::replace(&mut sw.hostname, new_name.to_string());
        state
            .former_hostnames
            .entry(mac.clone())
            .or_default()
            .push(old);
    }

    /// The dynamic port rules put `usage` on `port` (where its entry has `dynamic_usage`).
    pub fn assign_dynamic_usage(&self, switch: &Mac, port: &str, usage: &str) {
        self.state()
            .dynamic_assignments
            .insert((switch.clone(), port.to_string()), usage.to_string());
    }

    /// Device PUTs answer 200 but leave `key` as it was (Mist ignoring a field).
    pub fn ignore_put_key(&self, key: &str) {
        self.state().faults.ignored_put_keys.push(key.to_string());
    }

    /// The usage in force on a switch port, the way Mist decides it: the device's
    /// `port_config` entry for the port (own key or a range/list key), replaced by a
    /// `local_port_config` entry when the `port_config` entry sets `no_local_overwrite: false`,
    /// and by the dynamic rules' assignment when it has `dynamic_usage`. `None` when the
    /// device has no entry (the template decides).
    pub fn effective_usage(&self, switch: &Mac, port: &str) -> Option<String> {
        let state = self.state();
        let config = state.configs.get(switch)?;
        let entry = |section: &str| -> Option<Value> {
            let map = config.get(section)?.as_object()?;
            map.iter()
                .find(|(key, _)| port_key_covers(key, port))
                .map(|(_, v)| v.clone())
        };
        let main = entry("port_config")?;
        let local_allowed = main.get("no_local_overwrite") == Some(&json!(false));
        if let (true, Some(local)) = (local_allowed, entry("local_port_config")) {
            return local.get("usage")?.as_str().map(str::to_string);
        }
        let dynamic = main
            .get("dynamic_usage")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty());
        if dynamic {
            if let Some(usage) = state
                .dynamic_assignments
                .get(&(switch.clone(), port.to_string()))
            {
                return Some(usage.clone());
            }
        }
        main.get("usage")?.as_str().map(str::to_string)
    }

    /// The device configuration as `GET /sites/{site_id}/devices/{device_id}` would return it.
    pub fn device(&self, mac: &Mac) -> Option<Value> {
        device_json(&self.state(), mac)
    }

    pub fn set_device_config(&self, mac: &Mac, key: &str, value: Value) {
        self.state()
            .configs
            .entry(mac.clone())
            .or_default()
            .insert(key.into(), value);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// When the fake answered a programmed fault (429, 5xx), oldest first.
    pub fn refusals(&self) -> Vec<crate::clock::Instant> {
        self.state().refusals.clone()
    }

    /// Calls whose path starts with `path_prefix`, e.g. `/api/v1/sites/s1/stats/devices`.
    pub fn call_count(&self, path_prefix: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.path.starts_with(path_prefix))
            .count()
    }

    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }
}

/// Whether a `port_config` key (`ge-0/0/1`, `ge-0/0/8-16,ge-1/0/0-47`) names `port`.
fn port_key_covers(key: &str, port: &str) -> bool {
    let Some((head, n)) = port.rsplit_once('/') else {
        return false;
    };
    let Ok(n) = n.parse::<u32>() else {
        return key == port;
    };
    key.split(',').any(|item| {
        let Some((item_head, tail)) = item.trim().rsplit_once('/') else {
            return false;
        };
        let range = match tail.split_once('-') {
            Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
            None => tail.parse::<u32>().ok().map(|a| (a, a)),
        };
        item_head == head && range.is_some_and(|(a, b)| a <= n && n <= b)
    })
}

fn lock(shared: &Shared) -> MutexGuard<'_, MistState> {
    // A test that panicked while holding the lock must not take the other tests with it.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(shared: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/sites/{site_id}/devices/search",
            get(site_device_search),
        )
        .route(
            "/api/v1/orgs/{org_id}/devices/search",
            get(org_device_search),
        )
        .route(
            "/api/v1/sites/{site_id}/stats/devices",
            get(site_device_stats),
        )
        .route("/api/v1/orgs/{org_id}/stats/devices", get(org_device_stats))
        .route(
            "/api/v1/sites/{site_id}/stats/ports/search",
            get(site_port_search),
        )
        .route(
            "/api/v1/sites/{site_id}/devices/{device_id}",
            get(get_device).put(put_device),
        )
        .route("/api/v1/orgs/{org_id}/inventory", get(org_inventory))
        .route("/api/v1/orgs/{org_id}/sites", get(org_site_list))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Call log, latency, authentication (`HTTP401`), then programmed faults (`HTTP429`, 5xx).
async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Token {}", shared.token));
    let (latency, fault) = {
        let mut state = lock(&shared);
        state.calls.push(Call {
            method: request.method().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or("").to_string(),
        });
        let faults = &mut state.faults;
        let over_budget = authorized
            && faults.hourly_budget.is_some_and(|budget| {
                faults.budget_used = faults.budget_used.saturating_add(1);
                faults.budget_used > budget
            });
        let fault = if !authorized {
            None
        } else if over_budget {
            Some((429, None))
        } else if faults.rate_limited > 0 {
            faults.rate_limited -= 1;
            Some((429, faults.retry_after))
        } else if faults.server_errors > 0 {
            faults.server_errors -= 1;
            Some((faults.server_status, None))
        } else if faults.write_errors > 0 && request.method() != axum::http::Method::GET {
            faults.write_errors -= 1;
            Some((faults.server_status, None))
        } else {
            None
        };
        let latency = faults.latency;
        if fault.is_some() {
            state.refusals.push(crate::clock::Instant::now());
        }
        (latency, fault)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !authorized {
        // schema `response_http401`, example `HTTP401Example`
        let body = json!({"detail": "Authentication credentials were not provided."});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    match fault {
        Some((429, retry_after)) => {
            // schema `response_http429`
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"detail": RATE_LIMIT_DETAIL})),
            )
                .into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            response
        }
        Some((status, _)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(json!({"detail": "Internal Server Error"}))).into_response()
        }
        None => next.run(request).await,
    }
}

type Params = Query<HashMap<String, String>>;

/// Mist's largest page (1,000), or the endpoint's own cap.
fn page_cap(state: &MistState, endpoint: &str) -> usize {
    state.page_caps.get(endpoint).copied().unwrap_or(1000)
}

fn param<'a>(q: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    q.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

fn number(q: &HashMap<String, String>, key: &str, default: usize) -> usize {
    param(q, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `mac` filter: an unparsable one matches nothing, like Mist.
fn mac_filter(q: &HashMap<String, String>) -> Result<Option<Mac>, ()> {
    match param(q, "mac") {
        None => Ok(None),
        Some(raw) => Mac::parse(raw).map(Some).map_err(|_| ()),
    }
}

/// `GET /api/v1/sites/{site_id}/devices/search` → `response_device_search`.
async fn site_device_search(
    State(shared): State<AppState>,
    Path(site_id): Path<String>,
    Query(q): Params,
) -> Response {
    let path = format!("/api/v1/sites/{site_id}/devices/search");
    device_search(&shared, &path, &q, |site| site == site_id)
}

/// `GET /api/v1/orgs/{org_id}/devices/search` → `response_device_search`.
async fn org_device_search(
    State(shared): State<AppState>,
    Path(org_id): Path<String>,
    Query(q): Params,
) -> Response {
    let path = format!("/api/v1/orgs/{org_id}/devices/search");
    let sites = org_sites(&lock(&shared), &org_id);
    let only_site = param(&q, "site_id").map(str::to_string);
    device_search(&shared, &path, &q, |site| {
        sites.iter().any(|s| s == site) && only_site.as_deref().is_none_or(|o| o == site)
    })
}

fn org_sites(state: &MistState, org_id: &str) -> Vec<String> {
    state
        .sites
        .values()
        .filter(|s| s.org_id == org_id)
        .map(|s| s.id.clone())
        .collect()
}

fn device_search(
    shared: &Shared,
    path: &str,
    q: &HashMap<String, String>,
    on_site: impl Fn(&str) -> bool,
) -> Response {
    let kind = param(q, "type").unwrap_or("ap");
    let Ok(mac) = mac_filter(q) else {
        return Json(search_envelope(Vec::new(), 0, 100, None)).into_response();
    };
    let hostname = param(q, "hostname").map(str::to_ascii_lowercase);
    let name_matches = |name: &str| {
        hostname
            .as_deref()
            .is_none_or(|h| name.to_ascii_lowercase().contains(h))
    };
    let mut state = lock(shared);
    state.learn_due();
    let mut results = Vec::new();
    match kind {
        "ap" => {
            for ap in state.aps.values_mut() {
                if on_site(&ap.site_id)
                    && mac.as_ref().is_none_or(|m| m == &ap.mac)
                    && name_matches(&ap.name)
                {
                    let hide = ap.lldp_hidden_for > 0;
                    ap.lldp_hidden_for = ap.lldp_hidden_for.saturating_sub(1);
                    results.push(ap_search_item(ap, hide));
                }
            }
        }
        "switch" => {
            for sw in state.switches.values() {
                let former = state
                    .former_hostnames
                    .get(&sw.mac)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if on_site(&sw.site_id)
                    && mac.as_ref().is_none_or(|m| m == &sw.mac)
                    && (name_matches(&sw.hostname) || former.iter().any(|f| name_matches(f)))
                {
                    results.push(switch_search_item(sw, former));
                }
            }
        }
        _ => {}
    }
    let cap = page_cap(&state, "devices/search");
    drop(state);
    let limit = number(q, "limit", 100).clamp(1, cap);
    let offset = number(q, "search_after", 0);
    let total = results.len();
    let page: Vec<Value> = results.into_iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then(|| {
        let mut kept: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "search_after")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        kept.sort();
        kept.push(("search_after".into(), (offset + limit).to_string()));
        let query: Vec<String> = kept
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("{path}?{}", query.join("&"))
    });
    Json(search_envelope(page, total, limit, next)).into_response()
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `response_device_search`: `{results, limit, start, end, total, next?}`.
fn search_envelope(results: Vec<Value>, total: usize, limit: usize, next: Option<String>) -> Value {
    let end = now() as i64;
    let mut body = json!({
        "results": results,
        "limit": limit,
        "start": end - 86_400,
        "end": end,
        "total": total,
    });
    if let Some(next) = next {
        body["next"] = json!(next);
    }
    body
}

/// Schema `ap_search` (example `DevicesSearchAp`).
fn ap_search_item(ap: &FakeAp, hide_lldp: bool) -> Value {
    let mut item = json!({
        "mac": ap.mac.as_str(),
        "hostname": [ap.name, ap.mac.as_str()],
        "last_hostname": ap.name,
        "model": "AP43",
        "org_id": ORG_ID,
        "site_id": ap.site_id,
        "type": "ap",
        "timestamp": ap.last_seen,
        "uptime": 3600,
        "version": "0.14.29313",
        "power_constrained": false,
        "power_opmode": "",
        "mxtunnel_status": "down",
        "wlans": [],
    });
    if let (Some(lldp), false) = (&ap.lldp, hide_lldp) {
        item["lldp_system_name"] = json!(lldp.system_name);
        item["lldp_port_id"] = json!(lldp.port_id);
        item["lldp_port_desc"] = json!(lldp.port_desc);
        if let Some(addr) = &lldp.mgmt_addr {
            item["lldp_mgmt_addr"] = json!(addr);
        }
    }
    item
}

/// Schema `switch_search` (example `DevicesSearchSwitch`): `hostname` lists former names
/// (first) and the current one, `last_hostname` is the current one.
fn switch_search_item(sw: &FakeSwitch, former: &[String]) -> Value {
    let mut hostnames: Vec<&str> = former.iter().map(String::as_str).collect();
    hostnames.push(&sw.hostname);
    json!({
        "mac": sw.mac.as_str(),
        "hostname": hostnames,
        "last_hostname": sw.hostname,
        "ip": sw.ip,
        "model": "EX4100-48MP",
        "managed": true,
        "org_id": ORG_ID,
        "site_id": sw.site_id,
        "type": "switch",
        "timestamp": now(),
        "uptime": 19_287_811,
        "version": "22.4R3.25",
    })
}

/// `GET /api/v1/sites/{site_id}/stats/devices` → `stats_devices` (array of `stats_device`),
/// paged with `limit` / `page`.
async fn site_device_stats(
    State(shared): State<AppState>,
    Path(site_id): Path<String>,
    Query(q): Params,
) -> Response {
    device_stats(&shared, &q, |site| site == site_id)
}

/// `GET /api/v1/orgs/{org_id}/stats/devices` → `stats_devices`; the spec says paging comes
/// back in response headers (`X-Page-*`).
async fn org_device_stats(
    State(shared): State<AppState>,
    Path(org_id): Path<String>,
    Query(q): Params,
) -> Response {
    let sites = org_sites(&lock(&shared), &org_id);
    let only_site = param(&q, "site_id").map(str::to_string);
    device_stats(&shared, &q, |site| {
        sites.iter().any(|s| s == site) && only_site.as_deref().is_none_or(|o| o == site)
    })
}

fn device_stats(
    shared: &Shared,
    q: &HashMap<String, String>,
    on_site: impl Fn(&str) -> bool,
) -> Response {
    // `device_type_with_all` defaults to ap; `stat_device_status_filter` to all.
    let kind = param(q, "type").unwrap_or("ap");
    let status = param(q, "status").unwrap_or("all");
    let Ok(mac) = mac_filter(q) else {
        return Json(Vec::<Value>::new()).into_response();
    };
    let status_ok = |s: &str| status == "all" || status == s;
    let mut state = lock(shared);
    state.learn_due();
    let mut all = Vec::new();
    if kind == "ap" || kind == "all" {
        let world = &mut *state;
        for ap in world.aps.values_mut() {
            if on_site(&ap.site_id)
                && status_ok(ap.status.as_str())
                && mac.as_ref().is_none_or(|m| m == &ap.mac)
            {
                // `hide_lldp_for` counts reads of the AP, by search or by stats.
                let hide = ap.lldp_hidden_for > 0;
                ap.lldp_hidden_for = ap.lldp_hidden_for.saturating_sub(1);
                let reporting = !world.lldp_learning.contains_key(&ap.mac);
                all.push(ap_stat(ap, hide, reporting));
            }
        }
    }
    if kind == "switch" || kind == "all" {
        for sw in state.switches.values() {
            let down = state.switches_down.get(&sw.mac).copied();
            let sw_status = if down.is_some() {
                "disconnected"
            } else {
                "connected"
            };
            if on_site(&sw.site_id)
                && status_ok(sw_status)
                && mac.as_ref().is_none_or(|m| m == &sw.mac)
            {
                all.push(switch_stat(sw, down));
            }
        }
    }
    let cap = page_cap(&state, "stats/devices");
    let hide_total = state.hide_page_total;
    let ignore_page = state.ignore_page_param;
    drop(state);
    let limit = number(q, "limit", 100).clamp(1, cap);
    let page = if ignore_page {
        1
    } else {
        number(q, "page", 1).max(1)
    };
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-page-limit", HeaderValue::from(limit));
    headers.insert("x-page-page", HeaderValue::from(page));
    if !hide_total {
        headers.insert("x-page-total", HeaderValue::from(total));
    }
    (headers, Json(items)).into_response()
}

/// Schema `stats_ap` with `stats_ap_lldp_stat` (example `DevicesArrayStatsSiteAccessPointStats`).
/// `reporting`: a connected AP reports every 20-30 s, so Mist's `last_seen` for it is about
/// now; the fake answers as if a report just arrived, unless a report is still to come
/// ([`FakeMist::plug_ap_learning`]).
fn ap_stat(ap: &FakeAp, hide_lldp: bool, reporting: bool) -> Value {
    let last_seen = if reporting && ap.status == ApStatus::Connected && !ap.silent {
        ap.last_seen.max(now())
    } else {
        ap.last_seen
    };
    let mut stat = json!({
        "id": device_id(&ap.mac),
        "mac": ap.mac.as_str(),
        "name": ap.name,
        "model": "AP43",
        "org_id": ORG_ID,
        "site_id": ap.site_id,
        "type": "ap",
        "status": ap.status.as_str(),
        "last_seen": last_seen,
        "uptime": if ap.status == ApStatus::Connected { 3600 } else { 0 },
        "version": "0.14.29313",
    });
    if let (Some(lldp), false) = (&ap.lldp, hide_lldp) {
        stat["lldp_stat"] = json!({
            "system_name": lldp.system_name,
            "port_id": lldp.port_id,
            "port_desc": lldp.port_desc,
            "mgmt_addr": lldp.mgmt_addr,
            "mgmt_addrs": lldp.mgmt_addr.iter().collect::<Vec<_>>(),
            "lldp_med_supported": false,
        });
    }
    stat
}

/// Schema `stats_switch` (the fields mesa and people look at).
fn switch_stat(sw: &FakeSwitch, down_since: Option<f64>) -> Value {
    json!({
        "id": device_id(&sw.mac),
        "mac": sw.mac.as_str(),
        "name": sw.hostname,
        "hostname": sw.hostname,
        "ip": sw.ip,
        "model": "EX4100-48MP",
        "org_id": ORG_ID,
        "site_id": sw.site_id,
        "type": "switch",
        "status": if down_since.is_some() { "disconnected" } else { "connected" },
        "last_seen": down_since.unwrap_or_else(now),
        "uptime": if down_since.is_some() { 0 } else { 19_287_811 },
        "version": "22.4R3.25",
    })
}

/// `GET /api/v1/sites/{site_id}/stats/ports/search` → `response_switch_port_search` with
/// `stats_switch_port` items (example `SwitchPortsSearchExample`).
async fn site_port_search(
    State(shared): State<AppState>,
    Path(site_id): Path<String>,
    Query(q): Params,
) -> Response {
    let Ok(mac) = mac_filter(&q) else {
        return Json(port_envelope(Vec::new(), 100)).into_response();
    };
    let port_id = param(&q, "port_id");
    let state = lock(&shared);
    let mut results = Vec::new();
    for sw in state.switches.values().filter(|sw| sw.site_id == site_id) {
        if mac.as_ref().is_some_and(|m| m != &sw.mac) {
            continue;
        }
        for (name, port) in &sw.ports {
            if port_id.is_some_and(|p| p != name) {
                continue;
            }
            let mut item = json!({
                "mac": sw.mac.as_str(),
                "port_id": name,
                "port_mac": sw.mac.as_str(),
                "org_id": ORG_ID,
                "site_id": sw.site_id,
                "type": "switch",
                "up": port.up,
                "active": port.up,
                "speed": if port.up { 1000 } else { 0 },
                "poe_on": port.up,
                "full_duplex": true,
                // Required by the schema: empty when nothing is attached.
                "neighbor_mac": port.neighbor_mac.as_ref().map(Mac::as_str).unwrap_or(""),
            });
            if let Some(name) = &port.neighbor_system_name {
                item["neighbor_system_name"] = json!(name);
            }
            if let Some(desc) = &port.neighbor_port_desc {
                item["neighbor_port_desc"] = json!(desc);
            }
            results.push(item);
        }
    }
    drop(state);
    let limit = number(&q, "limit", 100).max(1);
    results.truncate(limit);
    Json(port_envelope(results, limit)).into_response()
}

fn port_envelope(results: Vec<Value>, limit: usize) -> Value {
    let end = now() as i64;
    json!({"start": end - 86_400, "end": end, "limit": limit, "total": results.len(), "results": results})
}

fn find_device<'a>(state: &'a MistState, site_id: &str, id: &str) -> Option<&'a Mac> {
    let sw = state
        .switches
        .values()
        .find(|sw| sw.site_id == site_id && device_id(&sw.mac) == id);
    let ap = state
        .aps
        .values()
        .find(|ap| ap.site_id == site_id && device_id(&ap.mac) == id);
    sw.map(|sw| &sw.mac).or(ap.map(|ap| &ap.mac))
}

/// Schema `mist_device` (`device_switch` / `device_ap`, examples `Deviceswitch` / `DeviceAp`).
fn device_json(state: &MistState, mac: &Mac) -> Option<Value> {
    let mut device = if let Some(sw) = state.switches.get(mac) {
        json!({"id": device_id(mac), "mac": mac.as_str(), "name": sw.hostname, "site_id": sw.site_id,
               "org_id": ORG_ID, "type": "switch", "model": "EX4100-48MP", "managed": true,
               "role": "access", "created_time": 0, "modified_time": 0})
    } else {
        let ap = state.aps.get(mac)?;
        json!({"id": device_id(mac), "mac": mac.as_str(), "name": ap.name, "site_id": ap.site_id,
               "org_id": ORG_ID, "type": "ap", "model": "AP43", "created_time": 0, "modified_time": 0})
    };
    if let (Some(config), Some(obj)) = (state.configs.get(mac), device.as_object_mut()) {
        for (k, v) in config {
            obj.insert(k.clone(), v.clone());
        }
    }
    Some(device)
}

fn not_found(id: &str) -> Response {
    // schema `response_http404`
    (StatusCode::NOT_FOUND, Json(json!({"id": id}))).into_response()
}

/// `GET /api/v1/sites/{site_id}/devices/{device_id}` → `mist_device`.
async fn get_device(
    State(shared): State<AppState>,
    Path((site_id, id)): Path<(String, String)>,
) -> Response {
    let state = lock(&shared);
    match find_device(&state, &site_id, &id).and_then(|mac| device_json(&state, mac)) {
        Some(device) => Json(device).into_response(),
        None => not_found(&id),
    }
}

/// Keys a PUT cannot change: they name the device.
const IDENTITY: &[&str] = &[
    "id",
    "mac",
    "site_id",
    "org_id",
    "type",
    "model",
    "created_time",
    "modified_time",
];

/// `PUT /api/v1/sites/{site_id}/devices/{device_id}` with a `mist_device` body: each
/// top-level key given replaces the stored one whole (so a `port_config` sent replaces the
/// entire `port_config`), keys not given stay. Answers the updated `mist_device`.
async fn put_device(
    State(shared): State<AppState>,
    Path((site_id, id)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(Value::Object(update))) = body else {
        let detail = "body must be a JSON object (mist_device)";
        return (StatusCode::BAD_REQUEST, Json(json!({"detail": detail}))).into_response();
    };
    let mut guard = lock(&shared);
    let state = &mut *guard;
    let Some(mac) = find_device(state, &site_id, &id).cloned() else {
        return not_found(&id);
    };
    // `device_switch` / `device_ap` require `type`; the one given must be the device's.
    let kind = if state.switches.contains_key(&mac) {
        "switch"
    } else {
        "ap"
    };
    if update.get("type").and_then(Value::as_str) != Some(kind) {
        let detail = format!("type is required and must be \"{kind}\" for this device");
        return (StatusCode::BAD_REQUEST, Json(json!({"detail": detail}))).into_response();
    }
    let ignored = state.faults.ignored_put_keys.clone();
    let config = state.configs.entry(mac.clone()).or_default();
    for (key, value) in update {
        if IDENTITY.contains(&key.as_str()) || ignored.contains(&key) {
            continue;
        }
        if key == "name" {
            if let Some(name) = value.as_str() {
                if let Some(sw) = state.switches.get_mut(&mac) {
                    sw.hostname = name.to_string();
                }
            }
            continue;
        }
        config.insert(key, value);
    }
    match device_json(state, &mac) {
        Some(device) => Json(device).into_response(),
        None => not_found(&id),
    }
}

/// `GET /api/v1/orgs/{org_id}/inventory` → `inventory_list` (example `OrgInventoryExample`),
/// filters `type`, `mac`, `site_id`, paged with `limit` / `page`.
async fn org_inventory(
    State(shared): State<AppState>,
    Path(org_id): Path<String>,
    Query(q): Params,
) -> Response {
    let Ok(mac) = mac_filter(&q) else {
        return Json(Vec::<Value>::new()).into_response();
    };
    let kind = param(&q, "type");
    let only_site = param(&q, "site_id");
    let state = lock(&shared);
    let sites = org_sites(&state, &org_id);
    let mut items = Vec::new();
    let mut add =
        |mac_: &Mac, name: &str, site: &str, kind_: &str, model: &str, connected: bool| {
            if sites.iter().any(|s| s == site)
                && kind.is_none_or(|k| k == kind_)
                && only_site.is_none_or(|s| s == site)
                && mac.as_ref().is_none_or(|m| m == mac_)
            {
                items.push(json!({
                    "id": device_id(mac_), "mac": mac_.as_str(), "name": name, "hostname": name,
                    "serial": format!("FAKE{}", mac_.as_str().to_ascii_uppercase()), "model": model,
                    "type": kind_, "site_id": site, "org_id": org_id, "connected": connected,
                    "created_time": 0, "modified_time": 0,
                }));
            }
        };
    for sw in state.switches.values() {
        add(
            &sw.mac,
            &sw.hostname,
            &sw.site_id,
            "switch",
            "EX4100-48MP",
            !state.switches_down.contains_key(&sw.mac),
        );
    }
    for ap in state.aps.values() {
        add(
            &ap.mac,
            &ap.name,
            &ap.site_id,
            "ap",
            "AP43",
            ap.status == ApStatus::Connected,
        );
    }
    let cap = page_cap(&state, "inventory");
    drop(state);
    let limit = number(&q, "limit", 100).clamp(1, cap);
    let page = number(&q, "page", 1).max(1);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    Json(items).into_response()
}

/// `GET /api/v1/orgs/{org_id}/sites` → `sites` (schema `site`: `id`, `name`, `org_id`, ...),
/// paged with `limit` / `page`.
async fn org_site_list(
    State(shared): State<AppState>,
    Path(org_id): Path<String>,
    Query(q): Params,
) -> Response {
    let limit = number(&q, "limit", 100).max(1);
    let page = number(&q, "page", 1).max(1);
    let state = lock(&shared);
    let sites: Vec<Value> = state
        .sites
        .values()
        .filter(|s| s.org_id == org_id)
        .skip((page - 1) * limit)
        .take(limit)
        .map(|s| json!({"id": s.id, "name": s.name, "org_id": s.org_id, "timezone": "UTC"}))
        .collect();
    Json(sites).into_response()
}
