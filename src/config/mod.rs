//! The configuration file: TOML → typed [`Config`], fully validated before anything starts.
//!
//! Loading goes in three passes so every error can name the file, the key and the reason:
//! 1. parse the TOML into a value tree;
//! 2. resolve secrets in that tree ([`secrets`]): `${VAR}` in any string, `<key>_file` read
//!    from disk;
//! 3. deserialize into the typed sections (unknown keys refused), then check the values that
//!    types cannot ([`Config::validate`]).

mod chatops_checks;
mod duration;
pub mod secrets;
mod sections;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use secrets::Secret;
pub use sections::*;

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

/// Every problem of one configuration file, so that one run lists them all. Printed one
/// `file: key: reason` per line; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// The first problem (the only one for most files).
    pub fn first(&self) -> &ConfigError {
        &self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
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
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub chatops: ChatopsConfig,
    /// `[[relay]]` rules: Mist webhook topics to chat targets.
    #[serde(default)]
    pub relay: Vec<crate::relay::RelayRuleConfig>,
    #[serde(default)]
    pub ui: UiConfig,
    /// The file this came from, for messages; not a key.
    #[serde(skip)]
    pub source: PathBuf,
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
            store: StoreConfig::default(),
            journal: JournalConfig::default(),
            ingest: IngestConfig::default(),
            chatops: ChatopsConfig::default(),
            relay: Vec::new(),
            ui: UiConfig::default(),
            source: PathBuf::from("(defaults)"),
        }
    }
}

impl Config {
    /// Reads, resolves and validates `path`. A missing file at the default location gives the
    /// embedded defaults, so `mesa serve` runs with no file at all.
    pub fn load(path: &Path, must_exist: bool) -> Result<Config, ConfigErrors> {
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
            Err(e) => return Err(ConfigError::new(path, "(file)", e.to_string()).into()),
        };
        Config::from_toml(&text, path)
    }

    /// Parses, resolves and validates, collecting the problems of every pass that can still
    /// run: all unresolvable secrets, then one problem per top-level section, then validation.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let mut tree: toml::Value = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| format!("line {}", text[..span.start].matches('\n').count() + 1))
                .unwrap_or_else(|| "(syntax)".into());
            ConfigError::new(path, line, e.message().trim().replace('\n', "; "))
        })?;
        let mut errors = secrets::resolve(&mut tree, path);
        let config = match Config::deserialize_tree(&tree, path) {
            Ok(mut config) => {
                config.source = path.to_path_buf();
                if let Err(e) = config.validate() {
                    errors.push(e);
                }
                Some(config)
            }
            Err(found) => {
                errors.extend(found);
                None
            }
        };
        // A key whose secret is missing was removed from the tree; what later passes say
        // about that key (e.g. "required") is the same problem again.
        let mut shown: Vec<ConfigError> = Vec::new();
        for e in errors {
            let repeat = shown
                .iter()
                .any(|s| within(&s.key, &e.key) || within(&e.key, &s.key));
            if !repeat {
                shown.push(e);
            }
        }
        match (config, shown.is_empty()) {
            (Some(config), true) => Ok(config),
            _ => Err(ConfigErrors(shown)),
        }
    }

    /// The typed configuration, or one problem per top-level section that has one.
    fn deserialize_tree(tree: &toml::Value, path: &Path) -> Result<Config, Vec<ConfigError>> {
        let one = |value: toml::Value| {
            serde_path_to_error::deserialize::<_, Config>(value).map_err(|e| {
                let key = e.path().to_string();
                // toml appends "in `section`" on a second line; the key path already says it.
                let reason = e.into_inner().to_string();
                let reason = reason.lines().next().unwrap_or_default().to_string();
                ConfigError::new(path, key, reason)
            })
        };
        let first = match one(tree.clone()) {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        // serde stops at the first problem: look at each section alone for the others.
        let mut errors = Vec::new();
        if let toml::Value::Table(table) = tree {
            for (key, value) in table {
                let mut alone = toml::Table::new();
                alone.insert(key.clone(), value.clone());
                if let Err(e) = one(toml::Value::Table(alone)) {
                    errors.push(e);
                }
            }
        }
        if !errors.contains(&first) {
            errors.insert(0, first);
        }
        Err(errors)
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
            if path == "/" || path == "/ui" || path.starts_with("/ui/") {
                return Err(self.err(key, "/ and /ui/ belong to the status page"));
            }
        }
        if self.ui.session_ttl.get().is_zero() {
            return Err(self.err("ui.session_ttl", "must be longer than 0s"));
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
        if self.store.retention.get() < std::time::Duration::from_secs(86_400) {
            return Err(self.err("store.retention", "must be at least 1day"));
        }
        if self.store.kind == StoreKind::Postgres && self.store.url.is_none() {
            return Err(self.err("store.url", "required when store.kind = \"postgres\""));
        }
        if self.store.lease.get() < std::time::Duration::from_secs(3) {
            return Err(self.err("store.lease", "must be at least 3s"));
        }
        if self.store.poll_interval.get().is_zero() {
            return Err(self.err("store.poll_interval", "must be more than 0s"));
        }
        if self.journal.max_attempts == 0 {
            return Err(self.err("journal.max_attempts", "must be at least 1"));
        }
        self.validate_backend()?;
        // VLAN values Junos would refuse at load, named by their key.
        if let Err((key, why)) = crate::templates::check_vlan_vars(&self.templates.vars) {
            return Err(self.err(&format!("templates.vars.{key}"), why));
        }
        self.validate_ingest()?;
        self.validate_chatops()?;
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
        crate::relay::validate(self).map_err(|(key, why)| self.err(&key, why))?;
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
        }?;
        self.validate_webhook_auth()
    }

    /// A live backend changes real ports: an unsigned webhook would let anyone who reaches
    /// mesa revert one with a forged AP_DISCONNECTED.
    fn validate_webhook_auth(&self) -> Result<(), ConfigError> {
        if self.mist.max_event_age.get() < std::time::Duration::from_secs(60) {
            return Err(self.err(
                "mist.max_event_age",
                "must be at least 1m (Mist delivers events seconds to minutes late)",
            ));
        }
        // `ingest.mode = "stream"` serves no webhook route: nothing unsigned can arrive.
        if self.backend.kind == BackendKind::DryRun
            || self.mist.webhook_secret.is_some()
            || self.mist.allow_unsigned
            || !self.ingest.mode.uses_webhook()
        {
            return Ok(());
        }
        let kind = match self.backend.kind {
            BackendKind::Netconf => "netconf",
            BackendKind::Cso => "cso",
            _ => "mist",
        };
        Err(self.err(
            "mist.webhook_secret",
            format!(
                "required with backend.kind = \"{kind}\": without it a forged AP_DISCONNECTED \
                 can revert a port; set it (and the same secret in the Mist webhook), or write \
                 mist.allow_unsigned = true to accept unsigned webhooks on purpose"
            ),
        ))
    }
}

/// `key` is `outer` or one of its sub-keys (`mist` holds `mist.api_token`, `notify[0]` holds
/// `notify[0].url`).
fn within(key: &str, outer: &str) -> bool {
    key.strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

impl Config {
    /// The stream dials out with the API token and needs the org (its sites, switches by MAC).
    fn validate_ingest(&self) -> Result<(), ConfigError> {
        let stream = &self.ingest.stream;
        if !self.ingest.mode.uses_stream() {
            return Ok(());
        }
        if self.mist.api_token.is_none() {
            return Err(self.err(
                "mist.api_token",
                "required for ingest.mode = \"stream\" or \"both\"",
            ));
        }
        if self.mist.org_id.is_none() {
            return Err(self.err(
                "mist.org_id",
                "required for ingest.mode = \"stream\" or \"both\"",
            ));
        }
        if !stream.url.is_empty() {
            let scheme = reqwest::Url::parse(&stream.url).map(|u| u.scheme().to_string());
            if !matches!(scheme.as_deref(), Ok("wss" | "ws")) {
                return Err(self.err("ingest.stream.url", "not a ws:// or wss:// URL"));
            }
        }
        if stream.sites.iter().any(|s| s.trim().is_empty()) {
            return Err(self.err("ingest.stream.sites", "empty site id"));
        }
        if stream.channels_per_connection == 0 {
            return Err(self.err(
                "ingest.stream.channels_per_connection",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("ingest.stream.silence", stream.silence),
            ("ingest.stream.ping_interval", stream.ping_interval),
            ("ingest.stream.reconnect_min", stream.reconnect_min),
            ("ingest.stream.site_refresh", stream.site_refresh),
        ] {
            if value.get().is_zero() {
                return Err(self.err(key, "must be longer than 0s"));
            }
        }
        if stream.reconnect_max < stream.reconnect_min {
            return Err(self.err("ingest.stream.reconnect_max", "shorter than reconnect_min"));
        }
        Ok(())
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
