//! SSH transport (ssh2, blocking): TCP connect with a timeout, handshake, host key check,
//! password or key authentication, the `netconf` subsystem, and framed message I/O with a
//! deadline per reply.
//!
//! Everything here blocks; callers in async code run it on `spawn_blocking`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh2::{Channel, Session as SshSession};

use crate::config::HostKeyPolicy;

use super::error::NetconfError;
use super::framing::{encode, Decoder, Framing};
use super::hostkey;

/// Who we log in as. A key is tried first, then the password.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: Option<String>,
    pub private_key: Option<PathBuf>,
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("private_key", &self.private_key)
            .finish()
    }
}

/// Everything needed to open one NETCONF session.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    /// Deadline for each reply.
    pub rpc_timeout: Duration,
    /// Offer base:1.1 (chunked framing). Off forces base:1.0.
    pub offer_base11: bool,
}

impl ConnectOptions {
    pub fn new(host: impl Into<String>, port: u16, credentials: Credentials) -> ConnectOptions {
        ConnectOptions {
            host: host.into(),
            port,
            credentials,
            known_hosts: PathBuf::from("known_hosts"),
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(60),
            offer_base11: true,
        }
    }
}

/// An open `netconf` subsystem channel.
pub struct Transport {
    // Field order matters for drop: channel before session.
    channel: Channel,
    session: SshSession,
    decoder: Decoder,
    framing: Framing,
    rpc_timeout: Duration,
    peer: String,
}

impl Transport {
    pub fn open(opts: &ConnectOptions) -> Result<Transport, NetconfError> {
        let peer = format!("{}:{}", opts.host, opts.port);
        let tcp = connect_tcp(&opts.host, opts.port, opts.connect_timeout)?;
        let mut session = SshSession::new().map_err(|e| NetconfError::Ssh(e.to_string()))?;
        session.set_timeout(millis(opts.connect_timeout));
        session.set_tcp_stream(tcp);
        session.handshake().map_err(|e| {
            NetconfError::Unreachable(format!("{peer}: ssh handshake: {}", e.message()))
        })?;
        hostkey::verify(
            &session,
            &opts.host,
            opts.port,
            &opts.known_hosts,
            opts.host_key_policy,
        )?;
        authenticate(&session, &opts.credentials)?;
        session.set_timeout(millis(opts.rpc_timeout));
        let mut channel = session
            .channel_session()
            .map_err(|e| NetconfError::Ssh(format!("open channel: {e}")))?;
        channel
            .subsystem("netconf")
            .map_err(|e| NetconfError::Ssh(format!("netconf subsystem refused: {e}")))?;
        Ok(Transport {
            channel,
            session,
            decoder: Decoder::new(Framing::EndOfMessage),
            framing: Framing::EndOfMessage,
            rpc_timeout: opts.rpc_timeout,
            peer,
        })
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
        self.decoder.set_framing(framing);
    }

    pub fn set_rpc_timeout(&mut self, timeout: Duration) {
        self.rpc_timeout = timeout;
    }

    /// Frames and sends one message in one write.
    pub fn send(&mut self, message: &str) -> Result<(), NetconfError> {
        self.session.set_timeout(millis(self.rpc_timeout));
        let wire = encode(self.framing, message.as_bytes());
        self.channel
            .write_all(&wire)
            .map_err(io_error(self.rpc_timeout))?;
        self.channel.flush().map_err(io_error(self.rpc_timeout))
    }

    /// The next whole message, waiting at most the reply timeout.
    pub fn receive(&mut self) -> Result<String, NetconfError> {
        let deadline = Instant::now() + self.rpc_timeout;
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(message) = self.decoder.next_message()? {
                return String::from_utf8(message)
                    .map_err(|_| NetconfError::Protocol("message is not UTF-8".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NetconfError::Timeout(self.rpc_timeout));
            }
            self.session.set_timeout(millis(left));
            match self.channel.read(&mut buf) {
                Ok(0) => return Err(NetconfError::Closed),
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(self.rpc_timeout)(e)),
            }
        }
    }

    /// Best effort: tell the server we are done without waiting long.
    pub fn shutdown(mut self) {
        self.session.set_timeout(2_000);
        let _ = self.channel.send_eof();
        let _ = self.channel.close();
        let _ = self.session.disconnect(None, "bye", None);
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

fn io_error(timeout: Duration) -> impl Fn(std::io::Error) -> NetconfError {
    move |e| match e.kind() {
        std::io::ErrorKind::TimedOut => NetconfError::Timeout(timeout),
        _ => NetconfError::Ssh(e.to_string()),
    }
}

fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, NetconfError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| NetconfError::Unreachable(format!("{host}:{port}: cannot resolve: {e}")))?
        .collect();
    let mut last = format!("{host}:{port}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = format!("{host}:{port} ({addr}): {e}"),
        }
    }
    Err(NetconfError::Unreachable(last))
}

fn authenticate(session: &SshSession, creds: &Credentials) -> Result<(), NetconfError> {
    let mut tried = Vec::new();
    if let Some(key) = &creds.private_key {
        match session.userauth_pubkey_file(&creds.username, None, key, creds.passphrase.as_deref())
        {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("key {}: not accepted", key.display())),
            Err(e) => tried.push(format!("key {}: {}", key.display(), e.message())),
        }
    }
    if let Some(password) = &creds.password {
        match session.userauth_password(&creds.username, password) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("password: not accepted".into()),
            Err(e) => tried.push(format!("password: {}", e.message())),
        }
    }
    if tried.is_empty() {
        tried.push("no password or private key configured".into());
    }
    Err(NetconfError::Auth(format!(
        "user {}: {}",
        creds.username,
        tried.join("; ")
    )))
}
