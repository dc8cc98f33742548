//! Starts the real yuma123 NETCONF server (`../shared/tools/netconf-peer.sh`) once per test
//! binary and hands out connection settings for it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use mesa::backend::netconf::{ConnectOptions, Credentials};
use mesa::config::HostKeyPolicy;

#[derive(Debug, Clone)]
pub struct Peer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/netconf-peer.sh")
}

/// Starts (or reuses: `start` twice is a no-op) the peer on `port` and reads its settings.
pub fn start(port: u16) -> Peer {
    let out = Command::new(script())
        .arg("start")
        .arg(port.to_string())
        .output()
        .expect("run netconf-peer.sh");
    assert!(
        out.status.success(),
        "netconf-peer.sh start {port} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("NETCONF_PEER_{key}=")))
            .unwrap_or_else(|| panic!("no NETCONF_PEER_{key} in {text}"))
            .to_string()
    };
    Peer {
        host: get("HOST"),
        port: get("PORT").parse().expect("port"),
        user: get("USER"),
        password: get("PASSWORD"),
        key: PathBuf::from(get("KEY")),
        known_hosts: PathBuf::from(get("KNOWN_HOSTS")),
    }
}

/// One peer for the whole test binary. The port is fixed and unusual so reruns reuse it.
pub fn shared() -> &'static Peer {
    static PEER: OnceLock<Peer> = OnceLock::new();
    PEER.get_or_init(|| start(18_347))
}

/// Tests that use the datastores take this, so their locks and commits do not collide.
pub fn datastore_guard() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Peer {
    /// Password login, strict host key check against the peer's known_hosts.
    pub fn options(&self) -> ConnectOptions {
        let mut opts = ConnectOptions::new(
            self.host.clone(),
            self.port,
            Credentials {
                username: self.user.clone(),
                password: Some(self.password.clone()),
                ..Credentials::default()
            },
        );
        opts.known_hosts = self.known_hosts.clone();
        opts.host_key_policy = HostKeyPolicy::Strict;
        opts.connect_timeout = Duration::from_secs(5);
        opts.rpc_timeout = Duration::from_secs(20);
        opts
    }
}
