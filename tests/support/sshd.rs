//! A real OpenSSH `sshd` on 127.0.0.1 for the tests, and [`JunosSwitch`]: the Junos simulator
//! behind it as sshd's `Subsystem netconf`.
//!
//! Everything lives in a temp dir: generated ed25519 host and client keys, `authorized_keys`,
//! a `known_hosts` with the host key, `sshd_config`, `sshd.log`. Key-only login for the
//! current user (root in CI, hence `PermitRootLogin prohibit-password`). sshd runs in the
//! foreground as our child and is killed on drop. Settings follow
//! `scripts/netconf-peer.sh`, known to work with Debian's OpenSSH.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesa::sim::junos::{CommitLogEntry, Config, Faults, StateDir};
use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd serving `Subsystem netconf`.
pub struct SshdHarness {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key (OpenSSH format, ed25519, no passphrase) accepted for `user`.
    pub key_path: PathBuf,
    /// `[127.0.0.1]:PORT ssh-ed25519 ...`, the only host key sshd offers.
    pub known_hosts_path: PathBuf,
    /// The host's public key line (`ssh-ed25519 AAAA...`).
    pub host_public_key: String,
    dir: TempDir,
    child: Option<Child>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// sshd answered with its banner.
fn ssh_banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

impl SshdHarness {
    /// Starts sshd with `Subsystem netconf <subsystem_command>`; panics when it cannot.
    pub fn start(subsystem_command: &str) -> SshdHarness {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} missing: apt-get install openssh-server"
        );
        let dir = tempfile::Builder::new()
            .prefix("mesa-sshd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let host_key = d.join("ssh_host_ed25519_key");
        let key_path = d.join("client_key");
        keygen(&host_key, "mesa-test-host");
        keygen(&key_path, "mesa-test-client");
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let host_public_key = fs::read_to_string(d.join("ssh_host_ed25519_key.pub"))
            .expect("host pub")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        // Privilege separation directory that Debian's sshd insists on.
        let _ = fs::create_dir_all("/run/sshd");
        let user = current_user();
        let known_hosts_path = d.join("known_hosts");

        for _attempt in 0..10 {
            let port = free_port();
            let config = d.join("sshd_config");
            let mut text = format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {host}\n\
                 PidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\n\
                 AllowUsers {user}\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowTcpForwarding no\n\
                 X11Forwarding no\n\
                 PrintMotd no\n\
                 MaxStartups 200\n\
                 MaxSessions 100\n\
                 LogLevel VERBOSE\n\
                 Subsystem netconf {subsystem_command}\n",
                host = host_key.display(),
                dir = d.display(),
            );
            fs::write(&config, &text).expect("sshd_config");
            // OpenSSH >= 9.8 penalises failing logins per source address; tests fail logins.
            let penalties = Command::new(SSHD)
                .arg("-t")
                .arg("-f")
                .arg(&config)
                .args(["-o", "PerSourcePenalties=no"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if penalties {
                text.push_str("PerSourcePenalties no\n");
                fs::write(&config, &text).expect("sshd_config");
            }
            run(Command::new(SSHD).arg("-t").arg("-f").arg(&config));
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(d.join("sshd.log"))
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break; // Port taken by a parallel test: try another.
                }
                if ssh_banner(port) {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !up {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            fs::write(
                &known_hosts_path,
                format!("[127.0.0.1]:{port} {host_public_key}\n"),
            )
            .expect("known_hosts");
            return SshdHarness {
                host: "127.0.0.1".to_string(),
                port,
                user,
                key_path,
                known_hosts_path,
                host_public_key,
                dir,
                child: Some(child),
            };
        }
        let log = fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
        panic!("sshd did not start; log:\n{log}");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshd's log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The real OpenSSH client, set up to open the `netconf` subsystem (stdio not set).
    pub fn netconf_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-T")
            .args(["-F", "/dev/null"])
            .arg("-i")
            .arg(&self.key_path)
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts_path.display()
            ))
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-s")
            .arg(format!("{}@{}", self.user, self.host))
            .arg("netconf");
        cmd
    }
}

impl SshdHarness {
    /// The switch becomes unreachable: sshd stops listening (sessions already open go on).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while ssh_banner(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// sshd again on the same port, same keys; panics if the port was taken meanwhile.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(d.join("sshd.log"))
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if ssh_banner(self.port) {
                    self.child = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "sshd did not restart on port {}; log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Lets the holder of `public_key_path` log in too (sshd reads the file at each login).
    pub fn authorize(&self, public_key_path: &Path) {
        let key = fs::read_to_string(public_key_path).expect("public key");
        let mut keys =
            fs::read_to_string(self.dir.path().join("authorized_keys")).unwrap_or_default();
        keys.push_str(&key);
        fs::write(self.dir.path().join("authorized_keys"), keys).expect("authorized_keys");
    }

    /// Successful logins so far, from sshd's log: one per SSH session opened.
    pub fn logins(&self) -> usize {
        self.log().matches("Accepted publickey").count()
    }
}

impl Drop for SshdHarness {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Junos simulator behind a real sshd: a temp state dir and
/// `Subsystem netconf mesa-junos-sim --state <dir>`.
pub struct JunosSwitch {
    pub sshd: SshdHarness,
    pub state: StateDir,
    _state_dir: TempDir,
}

impl JunosSwitch {
    pub fn start() -> JunosSwitch {
        JunosSwitch::start_with_faults(Faults::default())
    }

    /// Starts with faults already set, so that even the first hello sees them.
    pub fn start_with_faults(faults: Faults) -> JunosSwitch {
        let dir = tempfile::Builder::new()
            .prefix("mesa-junos-")
            .tempdir()
            .expect("temp dir");
        let state = StateDir::open(dir.path()).expect("state dir");
        state.set_faults(faults).expect("faults");
        let command = format!(
            "{} --state {}",
            env!("CARGO_BIN_EXE_mesa-junos-sim"),
            dir.path().display()
        );
        JunosSwitch {
            sshd: SshdHarness::start(&command),
            state,
            _state_dir: dir,
        }
    }

    pub fn state(&self) -> &StateDir {
        &self.state
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults).expect("set faults");
    }

    /// Replaces running and candidate (a switch booted with this configuration).
    pub fn seed_running(&self, set_text: &str) {
        self.state.seed_running(set_text).expect("seed running");
    }

    pub fn commit_log(&self) -> Vec<CommitLogEntry> {
        self.state.commit_log().expect("commit log")
    }

    pub fn running(&self) -> Config {
        self.state.running().expect("running")
    }

    /// The running configuration as `set` lines.
    pub fn running_config(&self) -> String {
        self.running().to_set_text()
    }

    pub fn candidate_config(&self) -> String {
        self.state.candidate().expect("candidate").to_set_text()
    }
}
