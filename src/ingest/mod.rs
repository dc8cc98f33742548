//! Ingest turns requests from outside into journaled `ApEvent`s: the Mist webhook
//! ([`webhook`]), the external NAC trigger ([`external`]). Nothing reaches the journal
//! unless it is authentic and well-formed; bad input gets a clear status and changes nothing.

pub mod external;
pub mod payload;
pub mod signature;
pub mod webhook;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A short JSON error body: `{"error": "..."}`.
pub(crate) fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

/// A body axum could not read (over the size limit: 413) as the same JSON error as the rest.
pub(crate) fn rejected_body(rejection: axum::extract::rejection::BytesRejection) -> Response {
    error(rejection.status(), rejection.body_text())
}

/// Compares two secrets without leaking through timing where they differ: both are reduced
/// to keyed digests first, so the comparison never runs over the secret itself.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    use hmac::Mac as _;
    let digest = |value: &str| {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(b"mesa")
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(value.as_bytes());
        mac.finalize().into_bytes()
    };
    digest(given) == digest(expected)
}
