//! Webhook authenticity: Mist signs the raw body with the webhook secret, HMAC-SHA256 in
//! `X-Mist-Signature-v2` and the legacy HMAC-SHA1 in `X-Mist-Signature`. Both are checked
//! in constant time (`Mac::verify_slice`) so a forger learns nothing from response timing.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

pub const HEADER_V2: &str = "x-mist-signature-v2";
pub const HEADER_SHA1: &str = "x-mist-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Mist-Signature-v2 header")]
    Missing,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks the body against the headers' signatures. SHA-1 counts only when allowed.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    v2: Option<&str>,
    sha1: Option<&str>,
    accept_sha1: bool,
) -> Result<(), SignatureError> {
    if let Some(signature) = v2 {
        return check::<Hmac<Sha256>>(secret, body, signature);
    }
    match sha1 {
        Some(signature) if accept_sha1 => check::<Hmac<Sha1>>(secret, body, signature),
        _ => Err(SignatureError::Missing),
    }
}

fn check<M: Mac + hmac::digest::KeyInit>(
    secret: &[u8],
    body: &[u8],
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let expected = hex::decode(signature_hex.trim()).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Hex HMAC-SHA256, as Mist computes it (for tests, the demo and benchmarks).
pub fn sign_v2(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex HMAC-SHA1 (legacy header).
pub fn sign_sha1(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha1> as hmac::digest::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_and_sha1() {
        let body = b"{\"topic\":\"device-events\"}";
        let good = sign_v2(b"s3cret", body);
        assert_eq!(verify(b"s3cret", body, Some(&good), None, false), Ok(()));
        assert_eq!(
            verify(b"other", body, Some(&good), None, false),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", body, Some("zz"), None, false),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", body, None, None, false),
            Err(SignatureError::Missing)
        );
        let legacy = sign_sha1(b"s3cret", body);
        assert_eq!(
            verify(b"s3cret", body, None, Some(&legacy), false),
            Err(SignatureError::Missing)
        );
        assert_eq!(verify(b"s3cret", body, None, Some(&legacy), true), Ok(()));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign_v2(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
