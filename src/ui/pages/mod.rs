//! The pages of the status UI, one module each: [`overview`] (every site at a glance),
//! [`site`] (switches and their port grids), [`decisions`] (the filtered timeline) and
//! [`port`] (one port, one AP). [`entry`] renders one decision the same way everywhere,
//! live updates included.

pub mod decisions;
pub mod entry;
pub mod overview;
pub mod port;
pub mod site;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// The store could not be read: say so, keep the operator on a page that explains.
pub fn store_failed(e: StoreError) -> Response {
    tracing::warn!(error = %e, "status page: store unreadable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        super::layout::problem(
            "Store unavailable",
            &format!("mesa could not read its store: {e}"),
        ),
    )
        .into_response()
}

/// `/ui/port?switch=..&port=..`
pub fn port_href(switch: &str, port: &str) -> String {
    format!(
        "/ui/port?{}",
        serde_urlencoded::to_string([("switch", switch), ("port", port)]).unwrap_or_default()
    )
}

pub fn site_href(site_id: &str) -> String {
    format!("/ui/sites/{}", encode_path(site_id))
}

pub fn ap_href(mac: &crate::model::Mac) -> String {
    format!("/ui/ap/{}", mac.as_str())
}

/// Percent-encodes one path segment (site ids are UUIDs, but nothing from outside is trusted).
fn encode_path(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
