//! Host key verification against an OpenSSH `known_hosts` file, with the three policies of
//! `backend.netconf.host_key_policy`:
//! - `strict`: the key must already be listed; unknown or changed keys are refused;
//! - `accept-new`: an unknown host is recorded (appended to the file) and accepted, a changed
//!   key is refused;
//! - `off`: no check (lab use only).
//!
//! Entries for ports other than 22 use OpenSSH's `[host]:port` form.

use std::io::Write;
use std::path::Path;

use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, KnownHostKeyFormat, Session};

use crate::config::HostKeyPolicy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    #[error("{host} is not in {file} (host_key_policy = strict)")]
    Unknown { host: String, file: String },
    #[error("host key of {host} does not match {file}: possible man-in-the-middle, or the switch was replaced (remove the old entry to accept the new key)")]
    Changed { host: String, file: String },
    #[error("cannot check host key of {host}: {reason}")]
    Failed { host: String, reason: String },
}

/// `host` for port 22, `[host]:port` otherwise, as OpenSSH writes it.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks the key the server presented during the handshake. Returns whether a new entry
/// was recorded.
pub fn verify(
    session: &Session,
    host: &str,
    port: u16,
    file: &Path,
    policy: HostKeyPolicy,
) -> Result<bool, HostKeyError> {
    if policy == HostKeyPolicy::Off {
        return Ok(false);
    }
    let name = known_hosts_name(host, port);
    let failed = |reason: String| HostKeyError::Failed {
        host: name.clone(),
        reason,
    };
    let (key, key_type) = session
        .host_key()
        .ok_or_else(|| failed("server sent no host key".into()))?;
    let mut known = session.known_hosts().map_err(|e| failed(e.to_string()))?;
    match known.read_file(file, KnownHostFileKind::OpenSSH) {
        Ok(_) => {}
        Err(_) if !file.exists() => {}
        Err(e) => return Err(failed(format!("reading {}: {e}", file.display()))),
    }
    let file_name = file.display().to_string();
    match known.check_port(host, port, key) {
        CheckResult::Match => Ok(false),
        CheckResult::Mismatch => Err(HostKeyError::Changed {
            host: name,
            file: file_name,
        }),
        CheckResult::Failure => Err(failed("libssh2 known-hosts check failed".into())),
        CheckResult::NotFound if policy == HostKeyPolicy::Strict => Err(HostKeyError::Unknown {
            host: name,
            file: file_name,
        }),
        CheckResult::NotFound => {
            let line = entry_line(&name, key, key_type)
                .ok_or_else(|| failed("unsupported host key type".into()))?;
            append(file, &line)
                .map_err(|e| failed(format!("recording key in {}: {e}", file.display())))?;
            tracing::info!(host = %name, file = %file.display(), "recorded new host key (accept-new)");
            Ok(true)
        }
    }
}

/// One `known_hosts` line: `name keytype base64`.
fn entry_line(name: &str, key: &[u8], key_type: HostKeyType) -> Option<String> {
    let kind = match KnownHostKeyFormat::from(key_type) {
        KnownHostKeyFormat::SshRsa => "ssh-rsa",
        KnownHostKeyFormat::SshDss => "ssh-dss",
        KnownHostKeyFormat::Ecdsa256 => "ecdsa-sha2-nistp256",
        KnownHostKeyFormat::Ecdsa384 => "ecdsa-sha2-nistp384",
        KnownHostKeyFormat::Ecdsa521 => "ecdsa-sha2-nistp521",
        KnownHostKeyFormat::Ed25519 => "ssh-ed25519",
        _ => return None,
    };
    Some(format!("{name} {kind} {}", base64(key)))
}

/// Appends, so comments and other entries in the file stay as the operator wrote them.
/// Parallel sessions to different switches may append at once: one `write_all` of a whole
/// line on an `O_APPEND` file keeps lines intact.
fn append(file: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let needs_newline = std::fs::read(file)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    let text = if needs_newline {
        format!("\n{line}\n")
    } else {
        format!("{line}\n")
    };
    f.write_all(text.as_bytes())
}

/// Standard base64 with padding (the known_hosts key encoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn bracket_form_for_other_ports() {
        assert_eq!(known_hosts_name("sw1", 22), "sw1");
        assert_eq!(known_hosts_name("127.0.0.1", 830), "[127.0.0.1]:830");
    }
}
