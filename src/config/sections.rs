//! The typed sections of the configuration file, each with its defaults (the embedded
//! defaults `mesa serve` runs on when there is no file). Unknown keys are refused everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Duration, Secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub webhook_path: String,
    pub data_dir: PathBuf,
    /// Bearer token for `/api/v1/*`; open when unset.
    pub api_token: Option<Secret>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Fsync every journal commit (power-loss safe). Off still survives a crash of mesa.
    pub fsync: bool,
    /// On SIGTERM: time to finish (or hand back to the journal) decisions in flight and
    /// deliver queued notifications before exiting.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:51360".into(),
            webhook_path: "/mist/webhook".into(),
            data_dir: PathBuf::from("./data"),
            api_token: None,
            tls_cert: None,
            tls_key: None,
            fsync: true,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MistConfig {
    pub api_url: String,
    pub api_token: Option<Secret>,
    pub org_id: Option<String>,
    pub webhook_secret: Option<Secret>,
    /// Also accept the legacy `X-Mist-Signature` (HMAC-SHA1).
    pub accept_sha1: bool,
    pub ignored_sites: Vec<String>,
    /// Minimum wait before the first lookup after AP_CONNECTED (0: look at once; the
    /// lookup keeps looking until Mist reports a neighbor newer than the event).
    pub lookup_delay: Duration,
    /// Lookups made when LLDP data is not there yet, before "no LLDP neighbor".
    pub lookup_attempts: u32,
    /// Longest wait between two lookups (1 s apart for the first 15, then doubling up to it).
    pub lookup_backoff: Duration,
    pub timeout: Duration,
    /// Retries for 429 / 5xx / timeouts on one API call.
    pub max_retries: u32,
    /// First wait between those retries (doubles each time, jittered) when Mist sends no
    /// `Retry-After`.
    pub retry_backoff: Duration,
    pub switch_cache_ttl: Duration,
    /// With a live backend, webhooks without a secret are refused at start unless this is set.
    pub allow_unsigned: bool,
    /// Webhook events whose Mist timestamp is older than this when received are recorded,
    /// not acted on: Mist's signature has no timestamp, so this bounds replays.
    pub max_event_age: Duration,
    /// Calls a Mist API token may make per hour (Mist: 5,000); `/metrics` shows what is left
    /// and mesa warns at 80 %.
    pub hourly_budget: u32,
    /// After a 429 without `Retry-After`, every Mist call waits this long (doubling per 429
    /// in a row, at most 8 times it) before one call tries again.
    pub rate_limit_wait: Duration,
    /// Lookups of one site's APs that wait within this window share one read of the site's
    /// AP stats (a snapshot).
    pub lookup_gather: Duration,
    /// A snapshot of a site's AP stats answers lookups for this long after its read started;
    /// never one whose event arrived after the read started.
    pub snapshot_ttl: Duration,
    /// When lookups of several sites wait at once, they share one read of the whole org's AP
    /// stats, gathered this long (0: never read the whole org).
    pub org_gather: Duration,
}

impl Default for MistConfig {
    fn default() -> Self {
        MistConfig {
            api_url: "https://api.mist.com".into(),
            api_token: None,
            org_id: None,
            webhook_secret: None,
            accept_sha1: false,
            ignored_sites: Vec::new(),
            lookup_delay: Duration::from_secs(0),
            lookup_attempts: 32,
            lookup_backoff: Duration::from_secs(20),
            timeout: Duration::from_secs(15),
            max_retries: 4,
            retry_backoff: Duration::from_secs(1),
            switch_cache_ttl: Duration::from_secs(600),
            allow_unsigned: false,
            max_event_age: Duration::from_secs(900),
            hourly_budget: 5_000,
            rate_limit_wait: Duration::from_secs(30),
            lookup_gather: Duration::from_secs(1),
            snapshot_ttl: Duration::from_secs(30),
            org_gather: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardsConfig {
    /// Wait this long after AP_DISCONNECTED before judging it (a newer event supersedes).
    pub disconnect_delay: Duration,
    /// Globs of ports never touched, e.g. `ae*`, `et-*`.
    pub protected_ports: Vec<String>,
    /// Only revert ports mesa itself made AP ports (or adopted).
    pub only_revert_managed: bool,
    pub outage: OutageGuardConfig,
    pub lldp: LldpGuardConfig,
    pub flap: FlapGuardConfig,
    pub holds: HoldsConfig,
}

impl Default for GuardsConfig {
    fn default() -> Self {
        GuardsConfig {
            disconnect_delay: Duration::from_secs(30),
            protected_ports: vec!["ae*".into()],
            only_revert_managed: true,
            outage: OutageGuardConfig::default(),
            lldp: LldpGuardConfig::default(),
            flap: FlapGuardConfig::default(),
            holds: HoldsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutageGuardConfig {
    pub enabled: bool,
    /// APs that went down within this window count towards an outage.
    pub window: Duration,
    /// APs down for longer than this are no longer counted as present on the site.
    pub ignore_disconnected_for: Duration,
    pub min_percent: u32,
    /// Sites with at most this many APs skip the outage guard.
    pub min_site_aps: u32,
    /// While other APs of the site go down, judge only once none went down for this long.
    pub settle: Duration,
    /// Longest wait for a site's drop to settle; then the count at that moment decides.
    pub settle_max: Duration,
}

impl Default for OutageGuardConfig {
    fn default() -> Self {
        OutageGuardConfig {
            enabled: true,
            window: Duration::from_secs(300),
            ignore_disconnected_for: Duration::from_secs(86_400),
            min_percent: 50,
            min_site_aps: 2,
            settle: Duration::from_secs(60),
            settle_max: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LldpGuardConfig {
    pub enabled: bool,
    pub recheck_after: Duration,
    /// What to do when Mist cannot show the port (switch not in Mist, no port stats).
    pub on_unknown: LldpUnknown,
}

/// `guards.lldp.on_unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LldpUnknown {
    /// Revert anyway: switches Mist does not manage (NETCONF-only) never have port stats.
    #[default]
    Proceed,
    /// Hold, and re-check later like every hold.
    Hold,
}

impl Default for LldpGuardConfig {
    fn default() -> Self {
        LldpGuardConfig {
            enabled: true,
            recheck_after: Duration::from_secs(120),
            on_unknown: LldpUnknown::Proceed,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlapGuardConfig {
    pub enabled: bool,
    /// More connect/disconnect events than this within `within` holds the AP.
    pub max_events: u32,
    pub within: Duration,
}

impl Default for FlapGuardConfig {
    fn default() -> Self {
        FlapGuardConfig {
            enabled: true,
            max_events: 6,
            within: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// APs whose Mist lookups and guard checks run at the same time (events of one AP are
    /// always handled one by one). Changes waiting for their switch do not count.
    pub max_concurrent: usize,
    /// Attempts for a change that failed for a transient reason (switch unreachable, locked).
    pub retry_attempts: u32,
    pub retry_backoff: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent: 256,
            retry_attempts: 6,
            retry_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    DryRun,
    Netconf,
    Cso,
    Mist,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// Changes for one switch arriving within this window share one commit.
    pub batch_window: Duration,
    pub netconf: NetconfConfig,
    pub cso: CsoConfig,
    pub mist: MistBackendConfig,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            kind: BackendKind::DryRun,
            batch_window: Duration::from_millis(500),
            netconf: NetconfConfig::default(),
            cso: CsoConfig::default(),
            mist: MistBackendConfig::default(),
        }
    }
}

/// How to find a switch's address when `[switches."<name>"]` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostSource {
    /// LLDP management address, else hostname + domain_suffix.
    Lldp,
    /// Always hostname + domain_suffix.
    Hostname,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    Strict,
    AcceptNew,
    Off,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetconfConfig {
    pub host: HostSource,
    pub domain_suffix: String,
    pub port: u16,
    pub username: String,
    pub password: Option<Secret>,
    /// Path to a private key (OpenSSH format).
    pub private_key: Option<PathBuf>,
    pub private_key_passphrase: Option<Secret>,
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    /// Per RPC; commits on EX can take tens of seconds.
    pub rpc_timeout: Duration,
    /// How long to wait for a candidate locked (or modified) by someone else.
    pub lock_timeout: Duration,
    /// Safety net of the confirmed commit (whole minutes for Junos).
    pub commit_confirm: Duration,
    pub max_sessions: usize,
}

impl Default for NetconfConfig {
    fn default() -> Self {
        NetconfConfig {
            host: HostSource::Lldp,
            domain_suffix: String::new(),
            port: 830,
            username: "mesa".into(),
            password: None,
            private_key: None,
            private_key_passphrase: None,
            known_hosts: PathBuf::from("./data/known_hosts"),
            host_key_policy: HostKeyPolicy::AcceptNew,
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(180),
            lock_timeout: Duration::from_secs(120),
            commit_confirm: Duration::from_secs(120),
            max_sessions: 8,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsoProfile {
    pub port_profile: String,
    pub native_vlan: Option<String>,
    pub vlan: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsoConfig {
    pub url: String,
    pub username: String,
    pub password: Option<Secret>,
    pub tenant: String,
    pub ap_profile: CsoProfile,
    pub secured_profile: CsoProfile,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MistBackendConfig {
    pub ap_usage: String,
    /// Empty removes the override, so the port falls back to the switch template.
    pub secured_usage: String,
}

impl Default for MistBackendConfig {
    fn default() -> Self {
        MistBackendConfig {
            ap_usage: "ap".into(),
            secured_usage: String::new(),
        }
    }
}

/// The Junos `set` templates and the values they use.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Folder with `ap.set.j2` / `secured.set.j2`, and `sites/<site_id>/` or
    /// `switches/<name>/` overrides. Built-in defaults when unset.
    pub dir: Option<PathBuf>,
    /// Extra variables for the templates (VLANs, timers...).
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwitchOverride {
    pub host: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyKind {
    Slack,
    Teams,
    Gchat,
    Webex,
    Mattermost,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub kind: NotifyKind,
    /// Webhook URL (a secret: it grants posting rights).
    pub url: Secret,
    #[serde(default = "default_min_severity")]
    pub min_severity: crate::model::Severity,
    /// Outcome labels to send (`applied`, `already-in-place`, `skipped`, `rejected`,
    /// `failed`); all when empty.
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Site ids to send; all when empty.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Webex bot token (with `room_id`), instead of an incoming webhook.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub room_id: Option<String>,
    /// How `[[relay]]` rules name this target (`notify = ["noc"]`); unnamed targets get
    /// decisions only.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether port decisions and mesa's notices go here; `false` for a relay-only channel.
    #[serde(default = "default_true")]
    pub decisions: bool,
}

fn default_true() -> bool {
    true
}

fn default_min_severity() -> crate::model::Severity {
    crate::model::Severity::Info
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalConfig {
    pub enabled: bool,
    pub path: String,
    pub api_key: Option<Secret>,
    pub org_id: Option<String>,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        ExternalConfig {
            enabled: false,
            path: "/external".into(),
            api_key: None,
            org_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    pub enabled: bool,
    pub interval: Duration,
    pub revert_after: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            enabled: true,
            interval: Duration::from_secs(900),
            revert_after: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Finished journal rows and decisions older than this are pruned in the background.
    pub retention: Duration,
    /// `sqlite` (one instance, a file under `server.data_dir`) or `postgres` (several
    /// instances may share it).
    pub kind: StoreKind,
    /// `postgres://user:password@host/db` (`${VAR}` or `url_file`: it holds a password).
    pub url: Option<super::Secret>,
    /// PostgreSQL: how long an instance's claim on journal events, a switch or a singleton
    /// lasts without its heartbeat; a dead instance's work moves on after about this long.
    pub lease: Duration,
    /// PostgreSQL: how often an instance looks for unclaimed work (a NOTIFY wakes it sooner).
    pub poll_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Duration::from_secs(90 * 86_400),
            kind: StoreKind::Sqlite,
            url: None,
            lease: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Runs of one event that ended with mesa stopping uncleanly (crash, kill) before it is
    /// parked as failed instead of run again.
    pub max_attempts: u32,
    /// Two reports of the same change of one AP (same kind, event times at most this far
    /// apart, no other change in between) are one event: org- and site-level webhooks.
    pub dedupe_window: Duration,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_attempts: 5,
            dedupe_window: Duration::from_secs(120),
        }
    }
}

/// `[guards.holds]`: when held decisions are looked at again (flap holds re-check after
/// `guards.flap.within`; the others after `recheck_after`, doubling up to `max_interval`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldsConfig {
    pub recheck_after: Duration,
    pub max_interval: Duration,
}

impl Default for HoldsConfig {
    fn default() -> Self {
        HoldsConfig {
            recheck_after: Duration::from_secs(300),
            max_interval: Duration::from_secs(3600),
        }
    }
}

/// Where events come from: the Mist webhook (Mist POSTs to mesa, so mesa needs a public
/// HTTPS address), the Mist WebSocket stream (mesa dials out; nothing listens on the
/// internet), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestMode {
    Webhook,
    Stream,
    Both,
}

impl IngestMode {
    pub fn uses_webhook(self) -> bool {
        matches!(self, IngestMode::Webhook | IngestMode::Both)
    }

    pub fn uses_stream(self) -> bool {
        matches!(self, IngestMode::Stream | IngestMode::Both)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub mode: IngestMode,
    pub stream: StreamConfig,
    /// Webhook bodies waiting for the `[[relay]]` rules; beyond it they are dropped (counted),
    /// never slowing provisioning.
    pub relay_queue: usize,
    /// The same event delivered again within this window (org + site webhooks) is relayed once.
    pub relay_dedupe: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            mode: IngestMode::Webhook,
            stream: StreamConfig::default(),
            relay_queue: 10_000,
            relay_dedupe: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// `wss://api-ws.<cloud>/api-ws/v1/stream`; empty: derived from `mist.api_url`.
    pub url: String,
    /// Site ids to subscribe; empty: every site of `mist.org_id`.
    pub sites: Vec<String>,
    /// An AP that sent no stats for this long is checked with one REST read.
    pub silence: Duration,
    /// Channels per WebSocket connection; more sites open more connections.
    pub channels_per_connection: usize,
    pub ping_interval: Duration,
    /// Reconnect backoff: first wait, doubling (with jitter) up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Wait after Mist refused the handshake with 429.
    pub rate_limited_wait: Duration,
    /// How often the org's site list is read again (new sites get subscribed).
    pub site_refresh: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            url: String::new(),
            sites: Vec::new(),
            silence: Duration::from_secs(90),
            channels_per_connection: 1000,
            ping_interval: Duration::from_secs(60),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            rate_limited_wait: Duration::from_secs(30),
            site_refresh: Duration::from_secs(600),
        }
    }
}

/// What a chat user who is in no `[chatops.roles]` list may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownUsers {
    /// Read-only commands (status, why, pending, help).
    #[default]
    Viewer,
    /// Refused, with a reply saying so.
    Deny,
}

/// `[chatops]`: ask mesa and steer it from Slack and Mattermost (`/mesa ...`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatopsConfig {
    pub unknown_users: UnknownUsers,
    pub slack: ChatopsSlackConfig,
    pub mattermost: ChatopsMattermostConfig,
    pub roles: ChatopsRoles,
}

/// `[chatops.slack]`: the Slack endpoints answer only when `signing_secret` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatopsSlackConfig {
    pub signing_secret: Option<Secret>,
    /// App-level token for Socket Mode (no public URL).
    pub app_token: Option<Secret>,
    /// Bot token (`usergroups:read`): resolves Slack user groups (`S…`) named in
    /// `[chatops.roles]`.
    pub bot_token: Option<Secret>,
    /// Slack Web API base (tests point it at a fake).
    pub api_url: String,
    /// How long a user group's members are trusted before Slack is asked again.
    pub groups_ttl: Duration,
    /// A slash command still running after this is acknowledged at once and answered
    /// through its `response_url` (Slack waits 3 s).
    pub ack_within: Duration,
}

impl Default for ChatopsSlackConfig {
    fn default() -> Self {
        ChatopsSlackConfig {
            signing_secret: None,
            app_token: None,
            bot_token: None,
            api_url: "https://slack.com/api".into(),
            groups_ttl: Duration::from_secs(300),
            ack_within: Duration::from_millis(2500),
        }
    }
}

/// `[chatops.mattermost]`: the Mattermost endpoints answer only when `command_token` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatopsMattermostConfig {
    pub command_token: Option<Secret>,
    /// Key of the HMAC mesa puts into interactive buttons (Mattermost does not sign them).
    pub action_secret: Option<Secret>,
    /// Where Mattermost reaches `POST /chatops/mattermost/actions` (absolute URL); with
    /// `action_secret`, `apply` / `revert` get Confirm buttons.
    pub actions_url: Option<String>,
    /// A slash command still running after this is acknowledged at once and answered
    /// through its `response_url` (Mattermost waits `OutgoingIntegrationRequestsTimeout`,
    /// 30 s by default). Zero: every command is acknowledged first.
    pub ack_within: Duration,
}

impl Default for ChatopsMattermostConfig {
    fn default() -> Self {
        ChatopsMattermostConfig {
            command_token: None,
            action_secret: None,
            actions_url: None,
            ack_within: Duration::from_secs(10),
        }
    }
}

/// `[chatops.roles]`: platform user ids per role; a user in several lists has the highest.
/// Entries may also name groups: a Slack user group (`S…`, with `chatops.slack.bot_token`),
/// or the team, channel or Enterprise Grid org the command was sent from (Slack `T…`,
/// `C…`, `E…`; Mattermost team and channel ids).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatopsRoles {
    pub admin: Vec<String>,
    pub operator: Vec<String>,
    pub viewer: Vec<String>,
}

/// `[ui]`: the status page at `/ui/`. Login takes `token`, else `server.api_token`; with
/// neither, the pages are open to anyone who reaches the listener and no action is offered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub token: Option<Secret>,
    /// A session ends this long after its login.
    pub session_ttl: Duration,
    /// Logged-in users may hold / release sites and retry failed decisions. Off: read-only
    /// (the API token used to grant reading only; acting is a choice).
    pub actions: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            token: None,
            session_ttl: Duration::from_secs(12 * 3600),
            actions: false,
        }
    }
}
