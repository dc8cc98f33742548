//! The Confirm button of `apply` / `revert`: its value carries the action, the switch, the
//! port, the user it was shown to and an expiry, sealed with an HMAC-SHA256 under a mesa-side
//! key, so a button edited on its way back (another port, another user, a later time) is
//! refused, in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::{InterfaceName, Profile};

/// How long a Confirm button stays usable.
pub const VALID_FOR_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    pub profile: Profile,
    pub switch: String,
    pub port: InterfaceName,
    pub user_id: String,
    /// Epoch seconds.
    pub expires: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error("button context altered or not from mesa")]
    Tampered,
    #[error("button expired; run the command again")]
    Expired,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

fn fields(change: &PendingChange) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        change.profile, change.switch, change.port, change.user_id, change.expires
    )
}

/// `profile|switch|port|user|expires|hex-hmac`. None when a field holds a `|` (no such
/// switch name or user id exists).
pub fn seal(key: &[u8], change: &PendingChange) -> Option<String> {
    if change.switch.contains('|') || change.user_id.contains('|') {
        return None;
    }
    let text = fields(change);
    let mut m = mac(key);
    m.update(text.as_bytes());
    Some(format!("{text}|{}", hex::encode(m.finalize().into_bytes())))
}

pub fn open(key: &[u8], sealed: &str, now: i64) -> Result<PendingChange, ConfirmError> {
    let (text, tag) = sealed.rsplit_once('|').ok_or(ConfirmError::Tampered)?;
    let tag = hex::decode(tag).map_err(|_| ConfirmError::Tampered)?;
    let mut m = mac(key);
    m.update(text.as_bytes());
    m.verify_slice(&tag).map_err(|_| ConfirmError::Tampered)?;
    let parts: Vec<&str> = text.split('|').collect();
    let [profile, switch, port, user_id, expires] = parts.as_slice() else {
        return Err(ConfirmError::Tampered);
    };
    let change = PendingChange {
        profile: Profile::parse(profile).ok_or(ConfirmError::Tampered)?,
        switch: switch.to_string(),
        port: InterfaceName::parse(port).map_err(|_| ConfirmError::Tampered)?,
        user_id: user_id.to_string(),
        expires: expires.parse().map_err(|_| ConfirmError::Tampered)?,
    };
    if now > change.expires {
        return Err(ConfirmError::Expired);
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_context_opens_once_unchanged_and_in_time() {
        let change = PendingChange {
            profile: Profile::Secured,
            switch: "sw1".into(),
            port: InterfaceName::parse("ge-0/0/12").unwrap(),
            user_id: "U1".into(),
            expires: 1_000,
        };
        let sealed = seal(b"k", &change).unwrap();
        assert_eq!(open(b"k", &sealed, 999), Ok(change));
        assert_eq!(open(b"k", &sealed, 1_001), Err(ConfirmError::Expired));
        let other_port = sealed.replace("ge-0/0/12", "ge-0/0/13");
        assert_eq!(open(b"k", &other_port, 999), Err(ConfirmError::Tampered));
        assert_eq!(open(b"other", &sealed, 999), Err(ConfirmError::Tampered));
    }
}
