//! The Junos backend: NETCONF over SSH (RFC 6241/6242), one session, one lock and one commit
//! per batch of changes for a switch.
//!
//! Layers, bottom up, each usable on its own:
//! - [`framing`]: base:1.0 / base:1.1 framing, pure (bytes in, messages out);
//! - [`transport`] + [`hostkey`]: ssh2 connection, known_hosts policy, authentication;
//! - [`rpc`]: XML building (escaped) and reply parsing (`rpc-error`, Junos `xnm:error`);
//! - [`session`]: the blocking NETCONF client ([`Session`]) with standard and Junos ops;
//! - [`junos`]: the lock → load → diff → commit sequence and its recovery rules;
//! - [`NetconfBackend`]: the [`SwitchBackend`] that renders templates and runs the sequence
//!   on blocking threads, at most `max_sessions` at once.

pub mod error;
pub mod framing;
pub mod hostkey;
pub mod junos;
pub mod rpc;
pub mod session;
pub mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::config::{HostSource, NetconfConfig, SwitchOverride};
use crate::model::{PortChange, SwitchRef};
use crate::templates::Templates;

pub use error::NetconfError;
pub use framing::Framing;
pub use junos::{Plan, PortLines, SequenceOptions};
pub use rpc::{Datastore, RpcError, RpcReply};
pub use session::Session;
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

    /// Renders every change into one plan for the switch.
    pub fn plan(&self, switch: &SwitchRef, changes: &[PortChange]) -> Result<Plan, BackendError> {
        let mut ports = Vec::with_capacity(changes.len());
        let mut reasons: Vec<&str> = Vec::new();
        for change in changes {
            if change.switch.name != switch.name {
                return Err(BackendError::Other(format!(
                    "change for {} {} handed to the batch of {}",
                    change.switch.name, change.port, switch.name
                )));
            }
            let lines = self
                .templates
                .render(change)
                .map_err(|e| BackendError::Template(e.to_string()))?;
            ports.push(PortLines {
                port: change.port.clone(),
                lines,
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
        let plan = self.plan(switch, changes)?;
        let opts = self.connect_options(switch);
        let seq = self.sequence_options();
        let _permit = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BackendError::Other("netconf backend is shutting down".into()))?;
        tracing::info!(switch = %switch.name, host = %opts.host, port = opts.port, ports = plan.ports.len(), "netconf: applying");
        // ssh2 blocks: keep it off the async workers.
        tokio::task::spawn_blocking(move || junos::apply(&|| Session::connect(&opts), &plan, &seq))
            .await
            .map_err(|e| BackendError::Other(format!("netconf worker failed: {e}")))?
    }
}
