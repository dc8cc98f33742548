//! The Junos backend: NETCONF over SSH (RFC 6241/6242), one session, one lock and one commit
//! per batch of changes for a switch.
//!
//! Layers, bottom up, each usable on its own:
//! - [`framing`]: base:1.0 / base:1.1 framing, pure (bytes in, messages out);
//! - [`transport`] + [`hostkey`]: ssh2 connection, known_hosts policy, authentication;
//! - [`rpc`]: XML building (escaped) and reply parsing (`rpc-error`, Junos `xnm:error`);
//! - [`commit_info`]: whether a confirmed commit is still pending, from the commit history;
//! - [`config_text`] + [`diff`]: configuration text as `set` paths (read-back), the
//!   `show | compare` diff split per port;
//! - [`session`]: the blocking NETCONF client ([`Session`]) with standard and Junos ops;
//! - [`port_state`]: what a port has now, read inside the lock, handed to the templates;
//! - [`junos`]: the lock → load → diff → commit sequence and its recovery rules;
//! - [`NetconfBackend`]: the [`SwitchBackend`] that renders templates and runs the sequence
//!   on blocking threads, at most `max_sessions` at once.

pub mod commit_info;
pub mod config_text;
pub mod diff;
pub mod error;
pub mod framing;
pub mod hostkey;
pub mod junos;
pub mod port_state;
pub mod rpc;
pub mod session;
pub mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::config::{HostSource, NetconfConfig, SwitchOverride};
use crate::model::{PortChange, Profile, SwitchRef};
use crate::templates::Templates;

pub use error::NetconfError;
pub use framing::Framing;
pub use junos::{Plan, PortLines, SequenceOptions};
pub use port_state::PortConfig;
pub use rpc::{Datastore, RpcError, RpcReply};
pub use session::{PendingCommit, Session};
pub use transport::{ConnectOptions, Credentials};

/// Longest commit log we send; Junos keeps it in the commit history.
const MAX_LOG: usize = 400;

pub struct NetconfBackend {
    cfg: NetconfConfig,
    switches: BTreeMap<String, SwitchOverride>,
    templates: Arc<Templates>,
    sessions: Arc<Semaphore>,
}

impl NetconfBackend {
    pub fn new(
        cfg: &NetconfConfig,
        switches: &BTreeMap<String, SwitchOverride>,
        templates: Arc<Templates>,
    ) -> NetconfBackend {
        NetconfBackend {
            cfg: cfg.clone(),
            switches: switches.clone(),
            templates,
            sessions: Arc::new(Semaphore::new(cfg.max_sessions.max(1))),
        }
    }

    /// Where to connect: `[switches."<name>"]`, else the LLDP management address (host
    /// source `lldp`), else `<name><domain_suffix>`.
    pub fn address(&self, switch: &SwitchRef) -> (String, u16) {
        let over = self.switches.get(&switch.name);
        let port = over.and_then(|o| o.port).unwrap_or(self.cfg.port);
        let host = over
            .and_then(|o| o.host.clone())
            .or_else(|| match self.cfg.host {
                HostSource::Lldp => switch.mgmt_addr.clone().filter(|a| !a.is_empty()),
                HostSource::Hostname => None,
            })
            .unwrap_or_else(|| format!("{}{}", switch.name, self.cfg.domain_suffix));
        (host, port)
    }

    pub fn connect_options(&self, switch: &SwitchRef) -> ConnectOptions {
        let (host, port) = self.address(switch);
        ConnectOptions {
            host,
            port,
            credentials: Credentials {
                username: self.cfg.username.clone(),
                password: self.cfg.password.as_ref().map(|s| s.expose().to_string()),
                private_key: self.cfg.private_key.clone(),
                passphrase: self
                    .cfg
                    .private_key_passphrase
                    .as_ref()
                    .map(|s| s.expose().to_string()),
            },
            known_hosts: self.cfg.known_hosts.clone(),
            host_key_policy: self.cfg.host_key_policy,
            connect_timeout: self.cfg.connect_timeout.get(),
            rpc_timeout: self.cfg.rpc_timeout.get(),
            offer_base11: true,
        }
    }

    /// Renders every change into one plan for the switch, not knowing what the ports have
    /// now (a preview; [`SwitchBackend::apply`] renders from the ports as read).
    pub fn plan(&self, switch: &SwitchRef, changes: &[PortChange]) -> Result<Plan, BackendError> {
        render_plan(&self.templates, switch, changes, None)
    }

    fn sequence_options(&self) -> SequenceOptions {
        SequenceOptions {
            lock_timeout: self.cfg.lock_timeout.get(),
            confirm_minutes: SequenceOptions::minutes(self.cfg.commit_confirm.get()),
            lock_backoff: std::time::Duration::from_secs(1),
        }
    }
}

#[async_trait]
impl SwitchBackend for NetconfBackend {
    fn kind(&self) -> &'static str {
        "netconf"
    }

    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        // Refuses a foreign change and a broken template before connecting.
        let preview = self.plan(switch, changes)?;
        let opts = self.connect_options(switch);
        let seq = self.sequence_options();
        let _permit = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BackendError::Other("netconf backend is shutting down".into()))?;
        tracing::info!(switch = %switch.name, host = %opts.host, port = opts.port, ports = preview.ports.len(), "netconf: applying");
        let templates = self.templates.clone();
        let (switch, changes) = (switch.clone(), changes.to_vec());
        let ports: Vec<_> = changes.iter().map(|c| c.port.clone()).collect();
        // ssh2 blocks: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let render =
                |current: &[PortConfig]| render_plan(&templates, &switch, &changes, Some(current));
            junos::apply(
                &|| Session::connect(&opts),
                &switch.name,
                &ports,
                &render,
                &seq,
            )
        })
        .await
        .map_err(|e| BackendError::Other(format!("netconf worker failed: {e}")))?
    }
}

/// One plan for the switch; `current` is what the ports have now (`None`: not read).
fn render_plan(
    templates: &Templates,
    switch: &SwitchRef,
    changes: &[PortChange],
    current: Option<&[PortConfig]>,
) -> Result<Plan, BackendError> {
    let mut ports = Vec::with_capacity(changes.len());
    let mut reasons: Vec<&str> = Vec::new();
    for change in changes {
        if change.switch.name != switch.name {
            return Err(BackendError::Other(format!(
                "change for {} {} handed to the batch of {}",
                change.switch.name, change.port, switch.name
            )));
        }
        let port = current
            .and_then(|all| all.iter().find(|c| c.port == change.port.as_str()))
            .cloned()
            .unwrap_or_else(|| PortConfig::unknown(&change.port));
        let lines = templates
            .render_on(change, &port)
            .map_err(|e| BackendError::Template(e.to_string()))?;
        let notes: Vec<String> = [
            dot1x_all_note(&port, change.profile),
            kept_description_note(&port, &lines),
        ]
        .into_iter()
        .flatten()
        .collect();
        ports.push(PortLines {
            port: change.port.clone(),
            lines,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        });
        if !reasons.contains(&change.reason.as_str()) {
            reasons.push(&change.reason);
        }
    }
    let mut log = format!("mesa: {}", reasons.join("; "));
    if log.len() > MAX_LOG {
        let cut = (0..=MAX_LOG)
            .rev()
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(0);
        log.truncate(cut);
    }
    Ok(Plan {
        switch: switch.name.clone(),
        ports,
        log,
    })
}

/// The port has a description the templates left alone (not mesa's: a patch-panel label...).
fn kept_description_note(port: &PortConfig, lines: &[String]) -> Option<String> {
    let description = port.description.as_ref()?;
    let set = format!("set interfaces {} description ", port.port);
    if lines.iter().any(|l| l.starts_with(&set)) {
        return None;
    }
    Some(format!(
        "kept the description {description:?} of {}, not written by mesa",
        port.port
    ))
}

/// `protocols dot1x authenticator interface all` puts every port under 802.1X. mesa does not
/// edit a stanza that covers every port, so it says what that means for this one.
fn dot1x_all_note(port: &PortConfig, profile: Profile) -> Option<String> {
    if !port.dot1x_all {
        return None;
    }
    Some(match profile {
        Profile::Ap => format!(
            "802.1X stays on {} through `protocols dot1x authenticator interface all`, which mesa does not change: \
             the AP must pass MAC RADIUS, or list ports instead of `all` (see README, 802.1X)",
            port.port
        ),
        Profile::Secured => format!(
            "{} is under 802.1X through `protocols dot1x authenticator interface all`, with the settings of `all`; \
             mesa added no stanza of its own",
            port.port
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApRef, InterfaceName, Mac};

    fn switch(name: &str, mgmt: Option<&str>) -> SwitchRef {
        SwitchRef {
            name: name.into(),
            site_id: "s1".into(),
            mac: None,
            mgmt_addr: mgmt.map(str::to_string),
        }
    }

    fn backend(host: HostSource) -> NetconfBackend {
        let cfg = NetconfConfig {
            host,
            domain_suffix: ".net.example".into(),
            ..NetconfConfig::default()
        };
        let mut switches = BTreeMap::new();
        switches.insert(
            "sw-over".to_string(),
            SwitchOverride {
                host: Some("10.9.9.9".into()),
                port: Some(2222),
            },
        );
        switches.insert(
            "sw-port".to_string(),
            SwitchOverride {
                host: None,
                port: Some(22),
            },
        );
        NetconfBackend::new(&cfg, &switches, Arc::new(Templates::default()))
    }

    #[test]
    fn address_resolution_order() {
        let lldp = backend(HostSource::Lldp);
        assert_eq!(
            lldp.address(&switch("sw-over", Some("10.0.0.1"))),
            ("10.9.9.9".into(), 2222)
        );
        assert_eq!(
            lldp.address(&switch("sw-port", Some("10.0.0.1"))),
            ("10.0.0.1".into(), 22)
        );
        assert_eq!(
            lldp.address(&switch("sw1", Some("10.0.0.1"))),
            ("10.0.0.1".into(), 830)
        );
        assert_eq!(
            lldp.address(&switch("sw1", None)),
            ("sw1.net.example".into(), 830)
        );
        let by_name = backend(HostSource::Hostname);
        assert_eq!(
            by_name.address(&switch("sw1", Some("10.0.0.1"))),
            ("sw1.net.example".into(), 830)
        );
        assert_eq!(lldp.kind(), "netconf");
    }

    #[test]
    fn plan_renders_every_change_and_joins_reasons() {
        let b = backend(HostSource::Lldp);
        let sw = switch("sw1", None);
        let change = |port: &str, profile, reason: &str| PortChange {
            switch: sw.clone(),
            port: InterfaceName::parse(port).unwrap(),
            profile,
            ap: ApRef {
                mac: Mac::parse("5c5b35aabbcc").unwrap(),
                name: None,
            },
            site_name: None,
            reason: reason.into(),
        };
        let changes = [
            change("ge-0/0/1", Profile::Ap, "AP_CONNECTED ap-1"),
            change("ge-0/0/2", Profile::Secured, "AP_DISCONNECTED ap-2"),
            change("ge-0/0/3", Profile::Ap, "AP_CONNECTED ap-1"),
        ];
        let plan = b.plan(&sw, &changes).unwrap();
        assert_eq!(plan.ports.len(), 3);
        assert!(plan.ports[1]
            .lines
            .iter()
            .any(|l| l.contains("dot1x authenticator interface ge-0/0/2 mac-radius")));
        assert_eq!(plan.log, "mesa: AP_CONNECTED ap-1; AP_DISCONNECTED ap-2");

        let other = switch("sw2", None);
        assert!(matches!(
            b.plan(&other, &changes),
            Err(BackendError::Other(_))
        ));
    }
}
