//! HTTP client for the Mist REST API: authentication, retries, rate limits and call counting.
//!
//! Retry policy, per call:
//! - 401 / 403: the token is wrong or lacks rights. Retrying cannot help: [`MistError::TokenRejected`].
//! - 429: Mist's hourly budget (5,000 calls per token) is spent. The call closes the client's
//!   one [`RateGate`]: every caller waits there (Mist's `Retry-After` when sent, else
//!   `mist.rate_limit_wait`, doubling per 429 in a row up to 8x) and one probe tells when calls pass
//!   again. A caller waits at most [`MistClient::with_retry_after_cap`] (60 s) per try, then
//!   gives up with [`MistError::RateLimited`] without spending a call.
//! - 5xx, timeouts, connection errors: bounded exponential backoff with jitter, up to
//!   `mist.max_retries` retries; the error says how many attempts were made and why the last
//!   one failed, down to the DNS or connect error.
//! - other 4xx: the request itself is wrong; no retry.
//!
//! Backoff is `base * 2^attempt` (capped at 30 s), half of it fixed and half random so that
//! hundreds of events retrying together spread out. `base` defaults to one second; tests
//! shorten it with [`MistClient::with_backoff_base`].
//!
//! Every HTTP attempt is counted with `metrics.mist_api_call(endpoint, status)`, where
//! `endpoint` is the path template without ids (`sites/devices/search`) and `status` the HTTP
//! code, `timeout` or `error`; in the hourly [`Budget`] (warning at 80 %); and in the
//! caller's [`calls`](super::calls) scope, so a decision can say what it cost.
//!
//! Paged reads (`stats/devices`: `limit` / `page` with `X-Page-*` headers; searches: `next`)
//! read until everything was read: Mist caps some endpoints below the 1,000 asked for, and a
//! short first page must not pass for the whole list (an outage guard counting half a site,
//! reconcile thinking connected APs left).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::budget::Budget;
use super::cache::FlightCache;
use super::error::error_chain;
use super::error::MistError;
use super::gate::RateGate;
use super::paging::Pager;
use super::snapshot::{ApSnapshot, Snapshots};
use super::types::{
    ApStat, ApStatWire, DeviceSearchItem, PortStat, SearchPage, SwitchInfo, SwitchStat,
};
use crate::config::MistConfig;
use crate::metrics::Metrics;
use crate::model::{InterfaceName, Mac};

/// Longest single backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Page size asked for (`limit`); Mist answers at most 1,000, some endpoints fewer.
const STATS_PAGE: usize = 1000;
/// Safety stop when following pages: beyond it the read fails rather than pass a part of the
/// list for the whole (1,000 pages of 100 = 100,000 devices).
const MAX_PAGES: u32 = 1000;
/// A switch that is not (yet) in Mist is asked for again sooner than a known one.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// One Mist API client per running mesa; share it with `Arc`.
pub struct MistClient {
    http: reqwest::Client,
    base: Url,
    api_url: String,
    /// `Token <mist.api_token>`, marked sensitive so HTTP-level logging masks it too.
    auth: HeaderValue,
    metrics: Metrics,
    max_retries: u32,
    backoff_base: Duration,
    retry_after_cap: Duration,
    switch_ttl: Duration,
    gate: RateGate,
    budget: Arc<Budget>,
    switches: FlightCache<(String, String), Option<SwitchInfo>>,
    /// (org id, switch MAC) → switch.
    switches_by_mac: FlightCache<(String, String), Option<SwitchInfo>>,
    /// Site AP-stats snapshots shared by concurrent lookups.
    snapshots: Snapshots,
    org_gather: Duration,
    /// Org id → its switch list was read (seeding the switch caches).
    org_switch_lists: FlightCache<String, ()>,
}

impl fmt::Debug for MistClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MistClient")
            .field("api_url", &self.api_url)
            .field("token", &"***")
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .finish_non_exhaustive()
    }
}

/// A successful answer that made it through the retry loop.
struct Reply {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl MistClient {
    pub fn new(cfg: &MistConfig, metrics: Metrics) -> Result<MistClient, MistError> {
        let token = cfg
            .api_token
            .as_ref()
            .ok_or(MistError::NotConfigured("mist.api_token"))?;
        let mut auth =
            HeaderValue::from_str(&format!("Token {}", token.expose())).map_err(|_| {
                MistError::NotConfigured("mist.api_token (not a valid HTTP header value)")
            })?;
        auth.set_sensitive(true);
        let base = Url::parse(cfg.api_url.trim_end_matches('/'))
            .map_err(|e| MistError::Setup(format!("mist.api_url {:?}: {e}", cfg.api_url)))?;
        let timeout = cfg.timeout.get();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("mesa/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MistError::Setup(error_chain(&e)))?;
        let budget = metrics.mist_budget();
        budget.set_per_hour(cfg.hourly_budget);
        Ok(MistClient {
            http,
            api_url: cfg.api_url.trim_end_matches('/').to_string(),
            base,
            auth,
            metrics,
            max_retries: cfg.max_retries,
            backoff_base: cfg.retry_backoff.get(),
            retry_after_cap: Duration::from_secs(60),
            switch_ttl: cfg.switch_cache_ttl.get(),
            gate: RateGate::new(cfg.rate_limit_wait.get()),
            budget,
            switches: FlightCache::new(),
            switches_by_mac: FlightCache::new(),
            snapshots: Snapshots::new(cfg.lookup_gather.get()),
            org_gather: cfg.org_gather.get(),
            org_switch_lists: FlightCache::new(),
        })
    }

    /// First backoff step (doubles per retry). Default one second.
    pub fn with_backoff_base(mut self, base: Duration) -> MistClient {
        self.backoff_base = base;
        self
    }

    /// Longest one try waits at the closed rate-limit gate before it gives up. Default 60 s:
    /// Mist's budget is hourly, and an event should fail visibly (the engine retries it
    /// later) rather than sit for an hour.
    pub fn with_retry_after_cap(mut self, cap: Duration) -> MistClient {
        self.retry_after_cap = cap;
        self
    }

    /// First time the gate stays closed after a 429 without `Retry-After` (default
    /// `mist.rate_limit_wait`).
    pub fn with_rate_limit_wait(mut self, wait: Duration) -> MistClient {
        self.gate = RateGate::new(wait);
        self
    }

    /// The hourly call budget this client spends from (shared through its [`Metrics`]).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// How long the rate-limit gate stays closed; `None` when calls go out.
    pub fn rate_limited_for(&self) -> Option<Duration> {
        self.gate.closed_for()
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// `GET /api/v1/sites/{site_id}/devices/search?type=ap&mac=`
    pub async fn find_ap_on_site(
        &self,
        site_id: &str,
        mac: &Mac,
    ) -> Result<Option<DeviceSearchItem>, MistError> {
        self.find_ap(["sites", site_id], "sites/devices/search", mac)
            .await
    }

    /// `GET /api/v1/orgs/{org_id}/devices/search?type=ap&mac=`: finds an AP that moved site.
    pub async fn find_ap_in_org(
        &self,
        org_id: &str,
        mac: &Mac,
    ) -> Result<Option<DeviceSearchItem>, MistError> {
        self.find_ap(["orgs", org_id], "orgs/devices/search", mac)
            .await
    }

    async fn find_ap(
        &self,
        scope: [&str; 2],
        endpoint: &'static str,
        mac: &Mac,
    ) -> Result<Option<DeviceSearchItem>, MistError> {
        let url = self.url(&[scope[0], scope[1], "devices", "search"]);
        let query = [("type", "ap"), ("mac", mac.as_str())];
        let page: SearchPage<DeviceSearchItem> = self.get_json(endpoint, url, &query).await?;
        Ok(page
            .results
            .into_iter()
            .find(|d| d.mac.as_ref() == Some(mac)))
    }

    /// The switch a site knows under `hostname` (an LLDP system name), cached for
    /// `mist.switch_cache_ttl`; concurrent lookups of one switch share one call. Mist's
    /// `hostname` filter is partial, so only an exact (case-insensitive) match counts; an
    /// FQDN that does not match is tried again by its first label.
    pub async fn switch_by_hostname(
        &self,
        site_id: &str,
        hostname: &str,
    ) -> Result<Option<SwitchInfo>, MistError> {
        let key = (site_id.to_string(), hostname.to_ascii_lowercase());
        self.switches
            .get_or_fetch(key, || async {
                let mut found = self.search_switch_hostname(site_id, hostname).await?;
                if found.is_none() {
                    if let Some((short, _)) =
                        hostname.split_once('.').filter(|(s, _)| !s.is_empty())
                    {
                        found = self.search_switch_hostname(site_id, short).await?;
                    }
                }
                let ttl = self.switch_cache_ttl(&found);
                Ok((found, ttl))
            })
            .await
    }

    async fn search_switch_hostname(
        &self,
        site_id: &str,
        hostname: &str,
    ) -> Result<Option<SwitchInfo>, MistError> {
        let url = self.url(&["sites", site_id, "devices", "search"]);
        let items: Vec<DeviceSearchItem> = self
            .search_all(
                "sites/devices/search",
                url,
                &[("type", "switch"), ("hostname", hostname)],
            )
            .await?;
        // The switch whose current name it is; a former name only when no switch is called
        // that now (LLDP data can lag a rename), never a switch that has since given the name
        // away to another one.
        let current = items
            .iter()
            .filter(|i| i.is_named(hostname))
            .find_map(SwitchInfo::from_search);
        Ok(current.or_else(|| {
            items
                .iter()
                .filter(|i| i.was_named(hostname))
                .find_map(SwitchInfo::from_search)
        }))
    }

    /// `GET /api/v1/orgs/{org_id}/devices/search?type=switch&mac=` (external NAC trigger,
    /// reconcile), cached for `mist.switch_cache_ttl` like [`MistClient::switch_by_hostname`].
    pub async fn switch_by_mac(
        &self,
        org_id: &str,
        mac: &Mac,
    ) -> Result<Option<SwitchInfo>, MistError> {
        let key = (org_id.to_string(), mac.to_string());
        self.switches_by_mac
            .get_or_fetch(key, || async {
                let url = self.url(&["orgs", org_id, "devices", "search"]);
                let page: SearchPage<DeviceSearchItem> = self
                    .get_json(
                        "orgs/devices/search",
                        url,
                        &[("type", "switch"), ("mac", mac.as_str())],
                    )
                    .await?;
                let found = page
                    .results
                    .iter()
                    .filter(|d| d.mac.as_ref() == Some(mac))
                    .find_map(SwitchInfo::from_search);
                let ttl = self.switch_cache_ttl(&found);
                Ok((found, ttl))
            })
            .await
    }

    /// A found switch is kept for `mist.switch_cache_ttl`; "not found" only briefly, so a
    /// switch just added to Mist is picked up soon.
    fn switch_cache_ttl(&self, found: &Option<SwitchInfo>) -> Duration {
        match found {
            Some(_) => self.switch_ttl,
            None => self.switch_ttl.min(NEGATIVE_TTL),
        }
    }

    /// `GET /api/v1/sites/{site_id}/stats/devices?type=ap`, all pages (`limit` / `page`;
    /// Mist reports the total in `X-Page-Total` when it feels like it).
    pub async fn site_ap_stats(&self, site_id: &str) -> Result<Vec<ApStat>, MistError> {
        let url = self.url(&["sites", site_id, "stats", "devices"]);
        self.ap_stats_pages("sites/stats/devices", url, &[]).await
    }

    /// The site's APs as one read of [`MistClient::site_ap_stats`] that started at or after
    /// `since` saw them, shared with every lookup of the site waiting at the same time
    /// (see [`super::snapshot`]).
    pub async fn site_aps_since(
        &self,
        site_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Arc<ApSnapshot>, MistError> {
        self.snapshots
            .since(site_id, since, || self.site_ap_stats(site_id))
            .await
    }

    /// The org's APs as one read of [`MistClient::org_ap_stats`] (every site, every page)
    /// that started at or after `since`, gathered for `mist.org_gather`: when lookups of many
    /// sites wait at once, one org read of 1,000 APs per page is cheaper than a read per
    /// site. The org's switches are read in the same breath ([`MistClient::org_switches`],
    /// once per `mist.switch_cache_ttl`), so the lookups that follow find theirs cached.
    pub async fn org_aps_since(
        &self,
        org_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Arc<ApSnapshot>, MistError> {
        let seeded = self
            .org_switch_lists
            .get_or_fetch(org_id.to_string(), || async {
                self.org_switches(org_id, None).await?;
                Ok::<_, MistError>(((), self.switch_ttl))
            })
            .await;
        if let Err(e) = seeded {
            // Each switch is then searched for by name, as in a quiet hour.
            tracing::warn!(error = %e, "Mist: the org's switch list could not be read");
        }
        self.snapshots
            .gathered(&format!("org:{org_id}"), since, self.org_gather, || {
                self.org_ap_stats(org_id, None)
            })
            .await
    }

    /// Notes a lookup of `site_id`; returns how many sites had one within `within`.
    pub fn busy_sites(&self, site_id: &str, within: Duration) -> usize {
        self.snapshots.note(site_id);
        self.snapshots.busy_sites(within)
    }

    /// Snapshot reads made so far.
    pub fn snapshot_reads(&self) -> u64 {
        self.snapshots.reads()
    }

    /// `GET /api/v1/orgs/{org_id}/stats/devices?type=ap[&site_id=]`, all pages: every AP of
    /// the org (or of one site) with its status, `last_seen` and LLDP neighbor, up to
    /// 1000 APs per call. This is the cheapest full picture Mist offers: the device search
    /// has LLDP but no status, the inventory has status but no LLDP.
    pub async fn org_ap_stats(
        &self,
        org_id: &str,
        site_id: Option<&str>,
    ) -> Result<Vec<ApStat>, MistError> {
        let url = self.url(&["orgs", org_id, "stats", "devices"]);
        let filter: Vec<(&str, &str)> = site_id.map(|s| ("site_id", s)).into_iter().collect();
        self.ap_stats_pages("orgs/stats/devices", url, &filter)
            .await
    }

    /// `GET /api/v1/orgs/{org_id}/devices/search?type=switch[&site_id=]&limit=1000`, all
    /// pages (`next`): the org's switches, to turn LLDP system names into switch MACs. The
    /// answers also fill the caches behind [`MistClient::switch_by_mac`] and
    /// [`MistClient::switch_by_hostname`], so events that follow need no lookups of their own.
    pub async fn org_switches(
        &self,
        org_id: &str,
        site_id: Option<&str>,
    ) -> Result<Vec<SwitchInfo>, MistError> {
        let url = self.url(&["orgs", org_id, "devices", "search"]);
        let limit = STATS_PAGE.to_string();
        let mut query = vec![("type", "switch"), ("limit", limit.as_str())];
        if let Some(site_id) = site_id {
            query.push(("site_id", site_id));
        }
        let items: Vec<DeviceSearchItem> =
            self.search_all("orgs/devices/search", url, &query).await?;
        let switches: Vec<SwitchInfo> = items.iter().filter_map(SwitchInfo::from_search).collect();
        for switch in &switches {
            self.remember_switch(org_id, switch).await;
        }
        Ok(switches)
    }

    /// Seeds the switch caches with a switch just read from Mist.
    async fn remember_switch(&self, org_id: &str, switch: &SwitchInfo) {
        let ttl = self.switch_ttl;
        let by_mac = (org_id.to_string(), switch.mac.to_string());
        let _ = self
            .switches_by_mac
            .get_or_fetch(by_mac, || async {
                Ok::<_, MistError>((Some(switch.clone()), ttl))
            })
            .await;
        let by_name = (switch.site_id.clone(), switch.name.to_ascii_lowercase());
        let _ = self
            .switches
            .get_or_fetch(by_name, || async {
                Ok::<_, MistError>((Some(switch.clone()), ttl))
            })
            .await;
    }

    /// `stats/devices` pages (`limit` / `page`) until everything was read; see [`Pager`].
    async fn ap_stats_pages(
        &self,
        endpoint: &'static str,
        url: Url,
        filter: &[(&str, &str)],
    ) -> Result<Vec<ApStat>, MistError> {
        let limit = STATS_PAGE.to_string();
        let mut stats = Vec::new();
        let mut macs = HashSet::new();
        let mut pager = Pager::new(STATS_PAGE);
        for page in 1..=MAX_PAGES {
            let page_s = page.to_string();
            let mut query = vec![
                ("type", "ap"),
                ("limit", limit.as_str()),
                ("page", page_s.as_str()),
            ];
            query.extend_from_slice(filter);
            let reply = self
                .send(Method::GET, endpoint, url.clone(), &query, None)
                .await?;
            // `stats_devices` is an array of `stats_device` (oneOf ap/switch/gateway): decode
            // entry by entry so one odd device does not hide the others.
            let entries: Vec<serde_json::Value> = decode(&reply.body)?;
            let count = entries.len();
            let mut repeated = 0usize;
            let before = stats.len();
            for stat in entries
                .into_iter()
                .filter(|v| {
                    v.get("type")
                        .and_then(|t| t.as_str())
                        .is_none_or(|t| t == "ap")
                })
                .filter_map(|v| serde_json::from_value::<ApStatWire>(v).ok())
                .filter_map(ApStatWire::into_stat)
            {
                // The list can shift between pages; an AP seen twice counts once.
                if macs.insert(stat.mac.clone()) {
                    stats.push(stat);
                } else {
                    repeated += 1;
                }
            }
            if page > 1 && repeated > 0 && stats.len() == before {
                // The same page again (a `page` Mist did not honour): reading on would not
                // bring the rest, and a part of the list must not pass for all of it.
                return Err(MistError::Decode(format!(
                    "{endpoint}: page {page} repeated earlier pages; the list could not be read whole"
                )));
            }
            let more = pager.more(
                count,
                header_u64(&reply.headers, "x-page-limit"),
                header_u64(&reply.headers, "x-page-total"),
            );
            if !more {
                return Ok(stats);
            }
        }
        Err(MistError::Decode(format!(
            "{endpoint}: more than {MAX_PAGES} pages; refusing to use a partial list"
        )))
    }

    /// `GET /api/v1/sites/{site_id}/stats/ports/search?mac=&port_id=`: the port as the switch
    /// reports it to Mist, `None` when Mist has no stats for it.
    pub async fn port_stats(
        &self,
        site_id: &str,
        switch_mac: &Mac,
        port: &InterfaceName,
    ) -> Result<Option<PortStat>, MistError> {
        let url = self.url(&["sites", site_id, "stats", "ports", "search"]);
        let items: Vec<PortStat> = self
            .search_all(
                "sites/stats/ports/search",
                url,
                &[("mac", switch_mac.as_str()), ("port_id", port.as_str())],
            )
            .await?;
        let same_port =
            |p: &PortStat| InterfaceName::parse(&p.port_id).is_ok_and(|name| &name == port);
        Ok(items
            .into_iter()
            .filter(|p| p.mac.as_ref().is_none_or(|m| m == switch_mac))
            .find(same_port))
    }

    /// `GET /api/v1/sites/{site_id}/stats/devices?type=switch` (schema `stats_switch`): how
    /// the cloud sees each switch of the site (`status`, `last_seen`). One page of up to
    /// 1000 switches; entries without a MAC are left out.
    pub async fn site_switch_stats(&self, site_id: &str) -> Result<Vec<SwitchStat>, MistError> {
        let url = self.url(&["sites", site_id, "stats", "devices"]);
        let limit = STATS_PAGE.to_string();
        let query = [("type", "switch"), ("limit", limit.as_str())];
        let entries: Vec<serde_json::Value> =
            self.get_json("sites/stats/devices", url, &query).await?;
        Ok(entries
            .into_iter()
            .filter_map(|v| serde_json::from_value::<SwitchStat>(v).ok())
            .filter(|s| s.mac.is_some())
            .collect())
    }

    /// `GET /api/v1/sites/{site_id}/devices/{device_id}` (schema `mist_device`), as JSON.
    pub async fn get_device(
        &self,
        site_id: &str,
        device_id: &str,
    ) -> Result<serde_json::Value, MistError> {
        let url = self.url(&["sites", site_id, "devices", device_id]);
        self.get_json("sites/devices", url, &[]).await
    }

    /// `PUT /api/v1/sites/{site_id}/devices/{device_id}`: Mist replaces the top-level keys
    /// given (send the whole `port_config`, not a fragment of it). Returns the new device.
    pub async fn put_device(
        &self,
        site_id: &str,
        device_id: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, MistError> {
        let url = self.url(&["sites", site_id, "devices", device_id]);
        let reply = self
            .send(Method::PUT, "sites/devices", url, &[], Some(body))
            .await?;
        decode(&reply.body)
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Each id becomes one percent-encoded segment: a site id from a webhook cannot
            // climb out of its place in the path.
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: Url,
        query: &[(&str, &str)],
    ) -> Result<T, MistError> {
        let reply = self.send(Method::GET, endpoint, url, query, None).await?;
        decode(&reply.body)
    }

    /// A search, following `next` links (same host only: the token goes with each call).
    async fn search_all<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: Url,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, MistError> {
        let mut page: SearchPage<T> = self.get_json(endpoint, url, query).await?;
        let total = page.total;
        let mut items = std::mem::take(&mut page.results);
        for _ in 1..MAX_PAGES {
            let Some(next) = page.next.as_deref().and_then(|n| self.follow(n)) else {
                break;
            };
            page = self.get_json(endpoint, next, &[]).await?;
            if page.results.is_empty() {
                break;
            }
            items.append(&mut page.results);
        }
        if let Some(total) = total.filter(|t| *t > items.len() as u64) {
            // Not an error: results of a search can age out of its window between pages.
            tracing::warn!(
                endpoint,
                total,
                read = items.len(),
                "Mist search reported more results than its pages held"
            );
        }
        Ok(items)
    }

    fn follow(&self, next: &str) -> Option<Url> {
        let url = self.base.join(next).ok()?;
        (url.origin() == self.base.origin()).then_some(url)
    }

    /// One API call with the retry policy described at the top of this module.
    async fn send(
        &self,
        method: Method,
        endpoint: &'static str,
        url: Url,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, MistError> {
        // HTTP requests this call sent.
        let mut sent: u32 = 0;
        // A write's body comes from an earlier read: it does not wait at the gate (someone may
        // edit the device meanwhile); the caller reads again once calls pass.
        let max_wait = if method == Method::GET {
            self.retry_after_cap
        } else {
            Duration::ZERO
        };
        loop {
            let ticket = match self.gate.enter(max_wait).await {
                Ok(ticket) => ticket,
                Err(closed) => {
                    return Err(MistError::RateLimited {
                        attempts: sent,
                        retry_after: closed.reopens_in.map(|d| d.as_secs_f64().ceil() as u64),
                    })
                }
            };
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, self.auth.clone());
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            sent += 1;
            self.spend();
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    self.metrics.mist_api_call(endpoint, status.as_str());
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let hint = header_u64(response.headers(), RETRY_AFTER.as_str())
                            .map(Duration::from_secs);
                        let closed_for = ticket.limited(hint);
                        self.budget.set_exhausted(true);
                        tracing::warn!(
                            endpoint,
                            closed_s = closed_for.as_secs(),
                            retry_after_s = hint.map(|h| h.as_secs()),
                            "Mist API answered 429 (hourly call budget spent): every Mist call waits"
                        );
                        MistError::RateLimited {
                            attempts: sent,
                            retry_after: Some(closed_for.as_secs().max(1)),
                        }
                    } else {
                        ticket.answered();
                        self.budget.set_exhausted(false);
                        match self.answer(endpoint, status, response).await {
                            Ok(reply) => return Ok(reply),
                            Err(Failure::Final(e)) => return Err(e),
                            Err(Failure::Retry(e)) => e,
                        }
                    }
                }
                Err(e) if e.is_timeout() => {
                    drop(ticket);
                    self.metrics.mist_api_call(endpoint, "timeout");
                    MistError::Timeout { attempts: sent }
                }
                Err(e) => {
                    drop(ticket);
                    self.metrics.mist_api_call(endpoint, "error");
                    MistError::Http {
                        detail: error_chain(&e.without_url()),
                        attempts: sent,
                    }
                }
            };
            let failure = failure.after(sent);
            // A write is never resent: after a 5xx or a timeout it may have landed, after a
            // 429 the wait is long; either way its body came from an earlier read, so the
            // caller reads again and decides again.
            if sent > self.max_retries || method != Method::GET {
                if !matches!(failure, MistError::RateLimited { .. }) {
                    tracing::warn!(endpoint, error = %failure, "Mist API call failed, giving up");
                }
                return Err(failure);
            }
            if !matches!(failure, MistError::RateLimited { .. }) {
                // A 429 waits at the gate instead.
                let wait = self.backoff(sent - 1);
                tracing::warn!(endpoint, error = %failure, attempt = sent, wait_ms = wait.as_millis() as u64, "Mist API call failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Counts one call sent: the hour's budget (warning at 80 %) and the caller's scope.
    fn spend(&self) {
        super::calls::count_one();
        if let Some(warning) = self.budget.record() {
            tracing::warn!(
                used = warning.used,
                per_hour = warning.per_hour,
                "{warning}"
            );
        }
    }

    /// A non-429 HTTP answer: the body of a success, else what to do about it.
    async fn answer(
        &self,
        endpoint: &'static str,
        status: StatusCode,
        response: reqwest::Response,
    ) -> Result<Reply, Failure> {
        if status.is_success() {
            let headers = response.headers().clone();
            return match response.bytes().await {
                Ok(bytes) => Ok(Reply {
                    headers,
                    body: bytes.to_vec(),
                }),
                Err(e) if e.is_timeout() => Err(Failure::Retry(MistError::Timeout { attempts: 1 })),
                Err(e) => Err(Failure::Retry(MistError::Http {
                    detail: error_chain(&e.without_url()),
                    attempts: 1,
                })),
            };
        }
        let failure = classify(status, response).await;
        if let Failure::Final(MistError::TokenRejected(code)) = &failure {
            tracing::error!(endpoint, status = code, "Mist API token rejected");
        }
        Err(failure)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::delay(self.backoff_base, attempt, MAX_BACKOFF)
    }
}

enum Failure {
    Retry(MistError),
    Final(MistError),
}

/// A non-success answer other than 429 (the gate handles those).
async fn classify(status: StatusCode, response: reqwest::Response) -> Failure {
    let code = status.as_u16();
    match code {
        401 | 403 => Failure::Final(MistError::TokenRejected(code)),
        500..=599 => Failure::Retry(MistError::Server {
            status: code,
            attempts: 1,
        }),
        _ => {
            let text = response.text().await.unwrap_or_default();
            // HTTP400/404 bodies are `{"detail": ...}` or `{"id": ...}`; keep it short.
            let detail: String = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
                .unwrap_or(text)
                .chars()
                .take(200)
                .collect();
            Failure::Final(MistError::Refused {
                status: code,
                detail,
            })
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, MistError> {
    serde_json::from_slice(body).map_err(|e| MistError::Decode(e.to_string()))
}

/// A site of the org (schema `site`, the fields mesa reads).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SiteInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl MistClient {
    /// `GET /api/v1/orgs/{org_id}/sites` (`listOrgSites`, `limit` / `page`), all pages: the
    /// sites the WebSocket stream subscribes to.
    pub async fn org_sites(&self, org_id: &str) -> Result<Vec<SiteInfo>, MistError> {
        let limit = STATS_PAGE.to_string();
        let mut sites = Vec::new();
        for page in 1..=MAX_PAGES {
            let page_s = page.to_string();
            let url = self.url(&["orgs", org_id, "sites"]);
            let batch: Vec<SiteInfo> = self
                .get_json(
                    "orgs/sites",
                    url,
                    &[("limit", limit.as_str()), ("page", page_s.as_str())],
                )
                .await?;
            let short = batch.len() < STATS_PAGE;
            sites.extend(batch);
            if short {
                break;
            }
        }
        Ok(sites)
    }
}
