//! Webhook body parser and signature check: the whole input is the HTTP body, exactly as
//! an attacker on the internet can send it. The secret and a forged signature header are
//! carved out of the body itself so the seeds stay plain JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesa::ingest::payload::{self, PayloadError};
use mesa::ingest::signature::{self, SignatureError};

fuzz_target!(|body: &[u8]| {
    check_payload(body);
    check_signature(body);
});

fn check_payload(body: &[u8]) {
    match payload::parse(body) {
        Ok(parsed) => {
            for event in &parsed.events {
                let mac = event.ap_mac.as_str();
                assert_eq!(mac.len(), 12, "{mac:?}");
                assert!(
                    mac.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{mac:?}"
                );
                let _ = event.dedupe_key();
                let _ = event.ap_mac.colon();
            }
            for ignored in &parsed.ignored {
                let _ = ignored.label();
            }
            for skipped in &parsed.skipped {
                assert!(skipped.to_string().contains(skipped.detail.as_str()));
            }
        }
        Err(e) => {
            assert!(matches!(
                e,
                PayloadError::NotJson(_) | PayloadError::NotWebhook(_)
            ));
            assert!(!e.to_string().is_empty());
        }
    }
}

fn check_signature(body: &[u8]) {
    let secret = &body[..body.len().min(16)];
    let good_v2 = signature::sign_v2(secret, body);
    let good_sha1 = signature::sign_sha1(secret, body);
    assert_eq!(
        signature::verify(secret, body, Some(&good_v2), None, false),
        Ok(())
    );
    assert_eq!(
        signature::verify(
            secret,
            body,
            Some(&good_v2.to_ascii_uppercase()),
            None,
            false
        ),
        Ok(())
    );
    assert_eq!(
        signature::verify(secret, body, None, Some(&good_sha1), true),
        Ok(())
    );
    assert_eq!(
        signature::verify(secret, body, None, Some(&good_sha1), false),
        Err(SignatureError::Missing)
    );
    // v2 wins over SHA-1 even when SHA-1 is valid and accepted.
    assert_eq!(
        signature::verify(secret, body, Some("00"), Some(&good_sha1), true),
        Err(SignatureError::Mismatch)
    );

    // A body with one bit flipped never passes with the original signature.
    if let Some(&last) = body.last() {
        let mut tampered = body.to_vec();
        *tampered.last_mut().unwrap() = last ^ 1;
        assert_eq!(
            signature::verify(secret, &tampered, Some(&good_v2), None, false),
            Err(SignatureError::Mismatch)
        );
    }

    // A forged header taken from the body's tail: accepted only if it is the real one.
    let tail = &body[body.len().saturating_sub(80)..];
    let forged = String::from_utf8_lossy(tail);
    if signature::verify(secret, body, Some(&forged), None, false).is_ok() {
        assert!(forged.trim().eq_ignore_ascii_case(&good_v2), "{forged:?}");
    }
    if signature::verify(secret, body, None, Some(&forged), true).is_ok() {
        assert!(forged.trim().eq_ignore_ascii_case(&good_sha1), "{forged:?}");
    }
}
