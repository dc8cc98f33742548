//! A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, `initdb`
//! into a temp dir, the postmaster in the foreground as our child on a free port of
//! 127.0.0.1 (its socket in the temp dir too). Running as root (CI), both run as the
//! `postgres` user, which the package creates. Stopped (fast shutdown) on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct PgCluster {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
    bin: PathBuf,
}

/// The newest installed server's binaries (`/usr/lib/postgresql/<major>/bin`).
fn bindir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = glob::glob("/usr/lib/postgresql/*/bin/initdb")
        .expect("glob")
        .flatten()
        .filter_map(|p| {
            let major = p.parent()?.parent()?.file_name()?.to_str()?.parse().ok()?;
            Some((major, p.parent()?.to_path_buf()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!("PostgreSQL server binaries not found under /usr/lib/postgresql: install Debian's `postgresql` (scripts/test-all.sh does)")
    })
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("id");
    assert!(
        out.status.success(),
        "no `postgres` user: install Debian's `postgresql`"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl PgCluster {
    /// initdb + postmaster; returns once it accepts connections.
    pub fn start() -> PgCluster {
        let bin = bindir();
        let dir = tempfile::tempdir().expect("temp dir");
        // root may not run PostgreSQL: the cluster belongs to `postgres`.
        let ids = is_root().then(|| (id_of("-u"), id_of("-g")));
        if let Some((uid, gid)) = ids {
            let out = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(dir.path())
                .output()
                .expect("chown");
            assert!(out.status.success(), "chown temp dir");
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "mesa", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null());
        if let Some((uid, gid)) = ids {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            // Throwaway data: durability is the real server's business, speed is ours.
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((uid, gid)) = ids {
            postgres.uid(uid).gid(gid);
        }
        let child = postgres.spawn().expect("start postgres");
        let cluster = PgCluster {
            port,
            dir,
            child: Some(child),
            bin,
        };
        cluster.wait_ready();
        cluster
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "mesa",
                ])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// A new empty database; its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "mesa",
            ])
            .arg(name)
            .output()
            .expect("createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://mesa@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL through `psql` (tests inspecting the database); its output, unaligned.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "mesa",
            ])
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: fast shutdown, the backends end with the postmaster.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
