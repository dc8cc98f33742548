//! The configuration file: TOML → typed [`Config`], fully validated before anything starts.
//!
//! Loading goes in three passes so every error can name the file, the key and the reason:
//! 1. parse the TOML into a value tree;
//! 2. resolve secrets in that tree ([`secrets`]): `${VAR}` in any string, `<key>_file` read
//!    from disk;
//! 3. deserialize into the typed sections (unknown keys refused), then check the values that
//!    types cannot ([`Config::validate`]).

mod duration;
pub mod secrets;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use secrets::Secret;

/// A configuration problem: where and why. Printed as `file: key: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.display().to_string(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub mist: MistConfig,
    #[serde(default)]
    pub guards: GuardsConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub backend: BackendConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    #[serde(default)]
    pub switches: BTreeMap<String, SwitchOverride>,
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    #[serde(default)]
    pub external: ExternalConfig,
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// The file this came from, for messages; not a key.
    #[serde(skip)]
    pub source: PathBuf,
}

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
    /// Time Mist needs to learn the AP's LLDP neighbor after AP_CONNECTED.
    pub lookup_delay: Duration,
    /// Lookups made when LLDP data is not there yet, before "no LLDP neighbor".
    pub lookup_attempts: u32,
    pub lookup_backoff: Duration,
    pub timeout: Duration,
    /// Retries for 429 / 5xx / timeouts on one API call.
    pub max_retries: u32,
    /// First wait between those retries (doubles each time, jittered) when Mist sends no
    /// `Retry-After`.
    pub retry_backoff: Duration,
    pub switch_cache_ttl: Duration,
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
            lookup_delay: Duration::from_secs(60),
            lookup_attempts: 5,
            lookup_backoff: Duration::from_secs(20),
            timeout: Duration::from_secs(15),
            max_retries: 4,
            retry_backoff: Duration::from_secs(1),
            switch_cache_ttl: Duration::from_secs(600),
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
}

impl Default for OutageGuardConfig {
    fn default() -> Self {
        OutageGuardConfig {
            enabled: true,
            window: Duration::from_secs(300),
            ignore_disconnected_for: Duration::from_secs(86_400),
            min_percent: 50,
            min_site_aps: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LldpGuardConfig {
    pub enabled: bool,
    pub recheck_after: Duration,
}

impl Default for LldpGuardConfig {
    fn default() -> Self {
        LldpGuardConfig {
            enabled: true,
            recheck_after: Duration::from_secs(120),
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
            known_hosts: PathBuf::from("known_hosts"),
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
            enabled: false,
            interval: Duration::from_secs(900),
            revert_after: Duration::from_secs(3600),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            mist: MistConfig::default(),
            guards: GuardsConfig::default(),
            engine: EngineConfig::default(),
            backend: BackendConfig::default(),
            templates: TemplatesConfig::default(),
            switches: BTreeMap::new(),
            notify: Vec::new(),
            external: ExternalConfig::default(),
            reconcile: ReconcileConfig::default(),
            source: PathBuf::from("(defaults)"),
        }
    }
}

impl Config {
    /// Reads, resolves and validates `path`. A missing file at the default location gives the
    /// embedded defaults, so `mesa serve` runs with no file at all.
    pub fn load(path: &Path, must_exist: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                let config = Config {
                    source: path.to_path_buf(),
                    ..Config::default()
                };
                config.validate()?;
                return Ok(config);
            }
            Err(e) => return Err(ConfigError::new(path, "(file)", e.to_string())),
        };
        Config::from_toml(&text, path)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut tree: toml::Value = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| format!("line {}", text[..span.start].matches('\n').count() + 1))
                .unwrap_or_else(|| "(syntax)".into());
            ConfigError::new(path, line, e.message().trim().replace('\n', "; "))
        })?;
        secrets::resolve(&mut tree, path)?;
        let mut config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            // toml appends "in `section`" on a second line; the key path already says it.
            let reason = e.into_inner().to_string();
            let reason = reason.lines().next().unwrap_or_default().to_string();
            ConfigError::new(path, key, reason)
        })?;
        config.source = path.to_path_buf();
        config.validate()?;
        Ok(config)
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.source, key, reason)
    }

    /// The checks types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(self.err("server.listen", "expected an address like 0.0.0.0:51360"));
        }
        for (key, path) in [
            ("server.webhook_path", &self.server.webhook_path),
            ("external.path", &self.external.path),
        ] {
            if !path.starts_with('/') {
                return Err(self.err(key, "must start with /"));
            }
        }
        if self.external.enabled && self.external.path == self.server.webhook_path {
            return Err(self.err("external.path", "must differ from server.webhook_path"));
        }
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(_), None) => {
                return Err(self.err("server.tls_key", "tls_cert is set, tls_key is missing"))
            }
            (None, Some(_)) => {
                return Err(self.err("server.tls_cert", "tls_key is set, tls_cert is missing"))
            }
            (Some(cert), Some(key)) => {
                for (name, file) in [("server.tls_cert", cert), ("server.tls_key", key)] {
                    if let Err(e) = std::fs::metadata(file) {
                        return Err(self.err(name, format!("{}: {e}", file.display())));
                    }
                }
            }
            (None, None) => {}
        }
        if reqwest::Url::parse(&self.mist.api_url).is_err() {
            return Err(self.err("mist.api_url", "not a URL"));
        }
        for (i, pattern) in self.guards.protected_ports.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(pattern) {
                return Err(self.err(&format!("guards.protected_ports[{i}]"), e.to_string()));
            }
        }
        if self.guards.outage.min_percent == 0 || self.guards.outage.min_percent > 100 {
            return Err(self.err("guards.outage.min_percent", "must be between 1 and 100"));
        }
        if self.engine.max_concurrent == 0 {
            return Err(self.err("engine.max_concurrent", "must be at least 1"));
        }
        if self.external.enabled && self.external.api_key.is_none() {
            return Err(self.err("external.api_key", "required when external.enabled = true"));
        }
        self.validate_backend()?;
        // A template that does not compile or render stops mesa here, not at the first AP.
        crate::templates::Templates::load(&self.templates)
            .and_then(|t| t.check())
            .map_err(|e| self.err("templates", e.to_string()))?;
        for (i, entry) in self.notify.iter().enumerate() {
            for outcome in &entry.outcomes {
                if !OUTCOME_LABELS.contains(&outcome.as_str()) {
                    return Err(self.err(
                        &format!("notify[{i}].outcomes"),
                        format!("unknown outcome {outcome:?}; expected one of {OUTCOME_LABELS:?}"),
                    ));
                }
            }
            if entry.kind != NotifyKind::Webex && (entry.token.is_some() || entry.room_id.is_some())
            {
                return Err(self.err(
                    &format!("notify[{i}]"),
                    "token/room_id are for kind = \"webex\"",
                ));
            }
            if entry.token.is_some() != entry.room_id.is_some() {
                return Err(self.err(
                    &format!("notify[{i}]"),
                    "a Webex bot needs both token and room_id",
                ));
            }
            // The URL is a secret: the message names the key, never the value.
            let scheme = reqwest::Url::parse(entry.url.expose()).map(|u| u.scheme().to_string());
            if !matches!(scheme.as_deref(), Ok("https" | "http")) {
                return Err(self.err(&format!("notify[{i}].url"), "not an http(s) URL"));
            }
        }
        Ok(())
    }

    fn validate_backend(&self) -> Result<(), ConfigError> {
        if self.backend.kind != BackendKind::DryRun && self.mist.api_token.is_none() {
            return Err(self.err(
                "mist.api_token",
                "required to look up APs (set it or mist.api_token_file)",
            ));
        }
        match self.backend.kind {
            BackendKind::DryRun => Ok(()),
            BackendKind::Netconf => {
                let n = &self.backend.netconf;
                if n.password.is_none() && n.private_key.is_none() {
                    return Err(self.err(
                        "backend.netconf.password",
                        "set a password or backend.netconf.private_key",
                    ));
                }
                if let Some(key) = &n.private_key {
                    if let Err(e) = std::fs::metadata(key) {
                        return Err(self.err(
                            "backend.netconf.private_key",
                            format!("{}: {e}", key.display()),
                        ));
                    }
                }
                let minutes = n.commit_confirm.as_secs();
                if !(60..=65_535 * 60).contains(&minutes) {
                    return Err(self.err(
                        "backend.netconf.commit_confirm",
                        "Junos counts it in whole minutes: 1m to 65535m",
                    ));
                }
                if n.max_sessions == 0 {
                    return Err(self.err("backend.netconf.max_sessions", "must be at least 1"));
                }
                Ok(())
            }
            BackendKind::Cso => {
                let c = &self.backend.cso;
                if reqwest::Url::parse(&c.url).is_err() {
                    return Err(self.err("backend.cso.url", "not a URL"));
                }
                if c.password.is_none() {
                    return Err(self.err("backend.cso.password", "required for kind = \"cso\""));
                }
                for (key, value) in [
                    ("backend.cso.username", &c.username),
                    ("backend.cso.tenant", &c.tenant),
                    (
                        "backend.cso.ap_profile.port_profile",
                        &c.ap_profile.port_profile,
                    ),
                    (
                        "backend.cso.secured_profile.port_profile",
                        &c.secured_profile.port_profile,
                    ),
                ] {
                    if value.is_empty() {
                        return Err(self.err(key, "required for kind = \"cso\""));
                    }
                }
                Ok(())
            }
            BackendKind::Mist => {
                if self.mist.org_id.is_none() {
                    return Err(self.err("mist.org_id", "required for kind = \"mist\""));
                }
                if self.backend.mist.ap_usage.is_empty() {
                    return Err(self.err("backend.mist.ap_usage", "required for kind = \"mist\""));
                }
                Ok(())
            }
        }
    }
}

/// Outcome labels accepted in `notify[].outcomes` (see `Outcome::label`).
pub const OUTCOME_LABELS: &[&str] = &[
    "applied",
    "already-in-place",
    "skipped",
    "rejected",
    "failed",
];

impl fmt::Display for Config {
    /// The `check-config` summary: the effective configuration with every secret masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match toml::to_string_pretty(self) {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "(cannot show configuration: {e})"),
        }
    }
}
