//! Starts the real yuma123 NETCONF server (`scripts/netconf-peer.sh run`) for one test, on a
//! free ephemeral port, and hands out connection settings for it.
//!
//! [`PeerGuard`] stops the peer when dropped, also when the test panics. The script holds our
//! end of a pipe on its stdin: if this process dies without unwinding, the pipe closes and the
//! script stops both servers anyway.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
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

/// A running peer; dropping it stops netconfd and sshd and removes their state dir.
pub struct PeerGuard {
    peer: Peer,
    stdin: Option<ChildStdin>,
    child: Child,
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/netconf-peer.sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a fresh peer (empty configuration) on a free port; panics when it cannot.
pub fn start() -> PeerGuard {
    for _attempt in 0..5 {
        let port = free_port();
        let mut child = Command::new(script())
            .arg("run")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", script().display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "READY" {
                break;
            }
            lines.push(line);
        }
        if lines.is_empty() {
            let status = child.wait().expect("wait for netconf-peer.sh");
            if status.code() == Some(3) {
                continue; // The port was taken meanwhile: try another.
            }
            panic!("netconf-peer.sh run {port} failed ({status}); its stderr is above");
        }
        let get = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("NETCONF_PEER_{key}=")))
                .unwrap_or_else(|| panic!("no NETCONF_PEER_{key} in {lines:?}"))
                .to_string()
        };
        let peer = Peer {
            host: get("HOST"),
            port: get("PORT").parse().expect("port"),
            user: get("USER"),
            password: get("PASSWORD"),
            key: PathBuf::from(get("KEY")),
            known_hosts: PathBuf::from(get("KNOWN_HOSTS")),
        };
        return PeerGuard { peer, stdin, child };
    }
    panic!("netconf-peer.sh: no free port after 5 attempts");
}

impl Deref for PeerGuard {
    type Target = Peer;
    fn deref(&self) -> &Peer {
        &self.peer
    }
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        // EOF on its stdin makes the script stop both servers and remove its state.
        drop(self.stdin.take());
        for _ in 0..150 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The script did not stop in 15 s; its servers die with it (--pdeathsig).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
