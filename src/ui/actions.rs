//! What an admin may do from the status page: hold or release a site, retry a failed
//! decision. Each is a form POST carrying the session's CSRF token ([`super::csrf`]); each is
//! logged with its actor and announced like the same command from the CLI or the chat, then
//! answered with 303 back to the page it came from.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::layout::problem;
use super::pages::{entry, site_href, store_failed};
use super::session::{self, Access, Refused};
use crate::http::AppState;
use crate::maintenance::{self, MaintenanceHold};
use crate::model::Source;

/// Who did it, in holds, logs and announcements: whoever holds the UI token.
const ACTOR: &str = "ui:token-holder";

/// Session, CSRF token, admin role, in that order.
fn allowed(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Access, Refused> {
    let access = session::check(state, headers)?;
    super::csrf::verify(&access, csrf)?;
    if !access.admin {
        return Err(Refused::NotAdmin);
    }
    Ok(access)
}

#[derive(Deserialize)]
pub struct HoldForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "for")]
    lasts: String,
    #[serde(default)]
    reason: String,
}

pub async fn hold(
    State(state): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HoldForm>,
) -> Response {
    if let Err(refused) = allowed(&state, &headers, &form.csrf) {
        return refused.into_response();
    }
    let site = site.trim();
    if site.is_empty() {
        return bad(&maintenance::HoldError::NoSite.to_string());
    }
    let lasts = match form.lasts.trim() {
        "" => None,
        text => match maintenance::parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => return bad(&e.to_string()),
        },
    };
    let hold = MaintenanceHold::new(site, lasts, Some(form.reason), ACTOR);
    if let Err(e) = state.store.set_maintenance_hold(&hold).await {
        return store_failed(e);
    }
    tracing::info!(site_id = %hold.site_id, actor = ACTOR, "maintenance hold set from the status page");
    state.chatops.notify.announce(
        &hold.site_id,
        format!("🛠 Maintenance hold on site {}", hold.site_id),
        format!(
            "🛠 {}. No reverts there; connects still apply.",
            hold.describe()
        ),
    );
    Redirect::to(&site_href(site)).into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn release(
    State(state): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = allowed(&state, &headers, &form.csrf) {
        return refused.into_response();
    }
    match state.store.release_maintenance_hold(&site).await {
        Ok(Some(hold)) => {
            tracing::info!(site_id = %site, actor = ACTOR, "maintenance hold released from the status page");
            state.chatops.notify.announce(
                &site,
                format!("✅ Maintenance hold on site {site} released"),
                format!(
                    "✅ {ACTOR} released the maintenance hold on site {site} (set by {}); reverts apply again",
                    hold.actor
                ),
            );
            Redirect::to(&site_href(&site)).into_response()
        }
        Ok(None) => Redirect::to(&site_href(&site)).into_response(),
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    event_id: String,
}

/// Runs a failed decision's event again, as a new journaled event (source `replay`, same
/// AP, kind and timestamp): a newer event of the AP makes it stale, as it should.
pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RetryForm>,
) -> Response {
    if let Err(refused) = allowed(&state, &headers, &form.csrf) {
        return refused.into_response();
    }
    let decisions = match state.store.recent_decisions(super::view::RECENT).await {
        Ok(d) => d,
        Err(e) => return store_failed(e),
    };
    let Some(failed) = decisions
        .into_iter()
        .find(|d| d.event.id == form.event_id && entry::retryable(d))
    else {
        return bad("No failed decision with that event id among the recent ones.");
    };
    let mut event = failed.event;
    let original = event.id.clone();
    event.id = uuid::Uuid::new_v4().to_string();
    event.source = Source::Replay;
    event.received_at = crate::clock::now();
    let new_id = event.id.clone();
    match state.journal.accept(vec![event]).await {
        Ok(accepted) if accepted.new == 1 => {
            tracing::info!(event_id = %new_id, retry_of = %original, actor = ACTOR, "failed decision retried from the status page");
            Redirect::to("/ui/decisions").into_response()
        }
        Ok(_) => (
            StatusCode::CONFLICT,
            problem(
                "Already retried",
                "This event was retried from here before (once per event): its decision is in \
                 the timeline. `mesa replay` runs it again by hand.",
            ),
        )
            .into_response(),
        Err(e) => store_failed(e),
    }
}

fn bad(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, problem("Not done", why)).into_response()
}
