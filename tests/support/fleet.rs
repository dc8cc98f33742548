//! A campus for the load and fault scenarios (`bench/scenarios.rs`, `tests/scenarios.rs`):
//! the fake Mist cloud with one site, N simulated Junos switches each behind its own real
//! sshd, and APs plugged into their ports (AP `k` of switch `s` on `ge-0/0/k`).
//!
//! Every switch accepts one client key and one `known_hosts` file lists them all, so a single
//! `[backend.netconf]` section reaches the whole fleet; `[switches."sw-NN"]` overrides point
//! each LLDP system name at its sshd port.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mesa::backend::netconf::NetconfBackend;
use mesa::config::{
    BackendKind, Config, Duration as CfgDuration, HostKeyPolicy, MistConfig, NetconfConfig, Secret,
    SwitchOverride, TemplatesConfig,
};
use mesa::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};
use mesa::sim::junos::{settle, Faults};
use mesa::sim::mist::FakeMist;
use mesa::templates::Templates;

use super::mesa::SECRET;
use super::sshd::JunosSwitch;

/// The site of the whole fleet (the site id of the OpenAPI spec's examples).
pub const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

#[derive(Debug, Clone)]
pub struct Ap {
    pub mac: Mac,
    pub switch: usize,
    pub port: InterfaceName,
}

pub struct Fleet {
    pub fake: FakeMist,
    pub switches: Vec<JunosSwitch>,
    pub aps: Vec<Ap>,
    pub key_path: PathBuf,
    pub known_hosts: PathBuf,
    templates: Arc<Templates>,
    _dir: tempfile::TempDir,
}

pub fn switch_name(i: usize) -> String {
    format!("sw-{i:02}")
}

fn switch_mac(i: usize) -> Mac {
    Mac::parse(&format!("d420b0{i:06x}")).expect("switch mac")
}

pub fn templates_config() -> TemplatesConfig {
    let mut cfg = TemplatesConfig::default();
    cfg.vars.insert(
        "ap_vlans".into(),
        toml::Value::Array(vec![toml::Value::Integer(10), toml::Value::Integer(20)]),
    );
    cfg
}

impl Fleet {
    /// `switches` switches with `aps_per_switch` APs each, every port seeded secured.
    pub async fn start(switches: usize, aps_per_switch: usize, faults: Faults) -> Fleet {
        let dir = tempfile::tempdir().expect("temp dir");
        let templates = Arc::new(Templates::load(&templates_config()).expect("templates"));
        let sims: Vec<JunosSwitch> = tokio::task::spawn_blocking(move || {
            (0..switches)
                .map(|_| JunosSwitch::start_with_faults(faults.clone()))
                .collect()
        })
        .await
        .expect("switches start");
        let key_path = sims[0].sshd.key_path.clone();
        let public = key_path.with_extension("pub");
        let mut known = String::new();
        for sw in &sims {
            sw.sshd.authorize(&public);
            known.push_str(&fs::read_to_string(&sw.sshd.known_hosts_path).expect("known_hosts"));
        }
        let known_hosts = dir.path().join("known_hosts");
        fs::write(&known_hosts, known).expect("known_hosts");

        let fake = FakeMist::start().await;
        fake.add_site(SITE, "HQ");
        let mut aps = Vec::new();
        for (s, sw) in sims.iter().enumerate() {
            fake.add_switch(&switch_mac(s), &switch_name(s), SITE, "127.0.0.1");
            for k in 0..aps_per_switch {
                let ap = Ap {
                    mac: Mac::parse(&format!("5c5b35{:06x}", s * 1000 + k)).expect("ap mac"),
                    switch: s,
                    port: InterfaceName::parse(&format!("ge-0/0/{k}")).expect("port"),
                };
                fake.plug_ap(&ap.mac, &switch_mac(s), ap.port.as_str());
                aps.push(ap);
            }
            let mut text = format!(
                "set system host-name {}\nset vlans default vlan-id 1\nset vlans ap-mgmt vlan-id 10\n\
                 set vlans ap-data vlan-id 20\nset vlans guest vlan-id 99\nset vlans server-fail vlan-id 98\n",
                switch_name(s)
            );
            for ap in aps.iter().filter(|a| a.switch == s) {
                for line in render(&templates, s, ap, Profile::Secured) {
                    if line.starts_with("set ") {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            }
            sw.seed_running(&text);
        }
        Fleet {
            fake,
            switches: sims,
            aps,
            key_path,
            known_hosts,
            templates,
            _dir: dir,
        }
    }

    pub fn netconf_config(&self) -> NetconfConfig {
        NetconfConfig {
            username: self.switches[0].sshd.user.clone(),
            private_key: Some(self.key_path.clone()),
            known_hosts: self.known_hosts.clone(),
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: CfgDuration::from_secs(10),
            rpc_timeout: CfgDuration::from_secs(60),
            lock_timeout: CfgDuration::from_secs(10),
            commit_confirm: CfgDuration::from_secs(60),
            max_sessions: self.switches.len().max(1),
            ..NetconfConfig::default()
        }
    }

    pub fn overrides(&self) -> BTreeMap<String, SwitchOverride> {
        self.switches
            .iter()
            .enumerate()
            .map(|(i, sw)| {
                (
                    switch_name(i),
                    SwitchOverride {
                        host: Some(sw.sshd.host.clone()),
                        port: Some(sw.sshd.port),
                    },
                )
            })
            .collect()
    }

    /// mesa in-process against this fleet: NETCONF backend, fake Mist, no lookup delay.
    pub fn mesa_config(&self, data_dir: &Path, batch_window: CfgDuration) -> Config {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = data_dir.to_path_buf();
        config.server.fsync = false;
        config.mist = MistConfig {
            webhook_secret: Some(Secret::new(SECRET)),
            max_event_age: super::mesa::FIXTURE_EVENT_AGE,
            lookup_delay: CfgDuration::from_secs(0),
            lookup_backoff: CfgDuration::from_millis(200),
            retry_backoff: CfgDuration::from_millis(100),
            ..self.fake.mist_config()
        };
        config.engine.retry_backoff = CfgDuration::from_millis(500);
        config.backend.kind = BackendKind::Netconf;
        config.backend.batch_window = batch_window;
        config.backend.netconf = self.netconf_config();
        config.switches = self.overrides();
        config.templates = templates_config();
        config
    }

    /// The same as a TOML file for a spawned `mesa serve` listening on `port`.
    pub fn mesa_toml(&self, data_dir: &Path, port: u16, batch_window: &str) -> String {
        let nc = self.netconf_config();
        let mut text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\nfsync = false\n\n\
             [mist]\napi_url = \"{url}\"\napi_token = \"{token}\"\norg_id = \"{org}\"\n\
             webhook_secret = \"{SECRET}\"\nmax_event_age = \"36500days\"\nlookup_delay = \"0s\"\nlookup_backoff = \"200ms\"\n\
             retry_backoff = \"100ms\"\n\n\
             [engine]\nretry_backoff = \"500ms\"\n\n\
             [backend]\nkind = \"netconf\"\nbatch_window = \"{batch_window}\"\n\n\
             [backend.netconf]\nusername = \"{user}\"\nprivate_key = \"{key}\"\n\
             known_hosts = \"{known}\"\nhost_key_policy = \"strict\"\nconnect_timeout = \"10s\"\n\
             rpc_timeout = \"60s\"\nlock_timeout = \"10s\"\ncommit_confirm = \"1m\"\nmax_sessions = {sessions}\n\n\
             [templates.vars]\nap_vlans = [10, 20]\n",
            data = data_dir.display(),
            url = self.fake.url(),
            token = self.fake.token(),
            org = self.fake.org_id(),
            user = nc.username,
            key = self.key_path.display(),
            known = self.known_hosts.display(),
            sessions = nc.max_sessions,
        );
        for (name, over) in self.overrides() {
            text.push_str(&format!(
                "\n[switches.\"{name}\"]\nhost = \"{}\"\nport = {}\n",
                over.host.unwrap_or_default(),
                over.port.unwrap_or_default()
            ));
        }
        text
    }

    /// The `set` lines the AP profile puts on the AP's port (description included: the
    /// engine names the port after the webhook's `device_name`, `ap-<mac>`).
    pub fn ap_lines(&self, ap: &Ap) -> Vec<String> {
        render(&self.templates, ap.switch, ap, Profile::Ap)
            .into_iter()
            .filter(|l| l.starts_with("set "))
            .collect()
    }

    /// Secured-profile statements that must be gone once the port is an AP port.
    fn secured_only_lines(&self, ap: &Ap) -> Vec<String> {
        let ap_lines = self.ap_lines(ap);
        render(&self.templates, ap.switch, ap, Profile::Secured)
            .into_iter()
            .filter(|l| l.starts_with("set ") && !ap_lines.contains(l))
            .collect()
    }

    /// APs whose port has the AP profile in its switch's running configuration.
    pub fn configured(&self) -> usize {
        let running: Vec<String> = self.switches.iter().map(|sw| sw.running_config()).collect();
        self.aps
            .iter()
            .filter(|ap| self.port_is_ap(ap, &running[ap.switch]))
            .count()
    }

    pub fn port_is_ap(&self, ap: &Ap, running: &str) -> bool {
        let have: std::collections::HashSet<&str> = running.lines().collect();
        self.ap_lines(ap).iter().all(|l| have.contains(l.as_str()))
            && !self
                .secured_only_lines(ap)
                .iter()
                .any(|l| have.contains(l.as_str()))
    }

    /// Per switch: (confirmed commits = batches applied, all commit log entries).
    pub fn commits(&self) -> Vec<(usize, usize)> {
        self.switches
            .iter()
            .map(|sw| {
                let log = sw.commit_log();
                let batches = log
                    .iter()
                    .filter(|e| e.kind == "commit" && e.confirmed)
                    .count();
                (batches, log.len())
            })
            .collect()
    }

    /// NETCONF sessions each switch has served (the simulator numbers them from 1001).
    pub fn sessions(&self) -> Vec<u32> {
        self.switches
            .iter()
            .map(|sw| {
                sw.state
                    .transact(|t| t.state.next_session.saturating_sub(1001))
                    .expect("state")
            })
            .collect()
    }

    /// What is wrong with each switch after settling: candidate != running, a lock held, a
    /// confirmed commit still pending. Empty when every switch is clean.
    pub fn unclean(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, sw) in self.switches.iter().enumerate() {
            settle(&sw.state).expect("settle");
            if sw.candidate_config() != sw.running_config() {
                problems.push(format!(
                    "{}: candidate differs from running",
                    switch_name(i)
                ));
            }
            if let Some(lock) = sw.state.lock_holder().expect("lock") {
                problems.push(format!(
                    "{}: locked by session {}",
                    switch_name(i),
                    lock.session
                ));
            }
            if sw.state.pending_confirm().expect("pending").is_some() {
                problems.push(format!("{}: confirmed commit pending", switch_name(i)));
            }
        }
        problems
    }

    /// Signed AP_CONNECTED / AP_DISCONNECTED bodies for `aps`, timestamps from `ts`.
    pub fn bodies(&self, kind: &str, aps: &[Ap], ts: i64) -> Vec<String> {
        aps.iter()
            .enumerate()
            .map(|(i, ap)| super::mesa::device_event(kind, ap.mac.as_str(), SITE, ts + i as i64))
            .collect()
    }
}

fn render(templates: &Templates, switch: usize, ap: &Ap, profile: Profile) -> Vec<String> {
    let change = PortChange {
        switch: SwitchRef {
            name: switch_name(switch),
            site_id: SITE.into(),
            mac: None,
            mgmt_addr: None,
        },
        port: ap.port.clone(),
        profile,
        ap: ApRef {
            mac: ap.mac.clone(),
            name: Some(format!("ap-{}", ap.mac.as_str())),
        },
        site_name: Some("HQ".into()),
        reason: "scenario".into(),
    };
    templates.render(&change).expect("render")
}

/// Kept for callers that want the backend on its own (not through `App::build`).
pub fn netconf_backend(fleet: &Fleet) -> NetconfBackend {
    NetconfBackend::new(
        &fleet.netconf_config(),
        &fleet.overrides(),
        fleet.templates.clone(),
    )
}
