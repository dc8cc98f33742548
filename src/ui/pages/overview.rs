//! `GET /ui/`: every site at a glance (APs seen, ports by state, hold and its expiry, the
//! last outage verdict, pending events) and mesa's own state (Mist API budget this hour,
//! how events arrive).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{site_href, store_failed};
use crate::http::AppState;
use crate::ui::layout::{self, when};
use crate::ui::session;
use crate::ui::view::{PortState, Snapshot};

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let snapshot = match Snapshot::load(state.store.as_ref()).await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let main = html! {
        (mesa_state(&state, &snapshot))
        h2 { "Sites" }
        @let sites = snapshot.sites();
        @if sites.is_empty() {
            p { "No site yet: mesa has not handled an event." }
        } @else {
            div.table-wrap {
                table.sites {
                    caption { "Per site: APs seen, managed ports by state, holds, the last outage verdict and pending events" }
                    thead {
                        tr {
                            th scope="col" { "Site" }
                            th scope="col" { "APs seen" }
                            @for s in PortState::ALL {
                                @if s != PortState::Unmanaged {
                                    th scope="col" { span.(s.css()).chip aria-hidden="true" { (s.glyph()) } " " (s.label()) }
                                }
                            }
                            th scope="col" { "Hold" }
                            th scope="col" { "Last outage verdict" }
                            th scope="col" { "Pending" }
                        }
                    }
                    tbody {
                        @for site in &sites {
                            tr {
                                th scope="row" {
                                    a href=(site_href(&site.site_id)) {
                                        (site.site_name.clone().unwrap_or_else(|| site.site_id.clone()))
                                    }
                                    @if site.site_name.is_some() { br; small { (site.site_id) } }
                                }
                                td { (site.aps) }
                                @for s in PortState::ALL {
                                    @if s != PortState::Unmanaged {
                                        td { (site.counts.get(&s).copied().unwrap_or(0)) }
                                    }
                                }
                                td {
                                    @match &site.hold {
                                        Some(h) => {
                                            "‖ by " (h.actor) " "
                                            @match h.expires_at { Some(t) => { "until " (when(&t)) }, None => { "until released" } }
                                        },
                                        None => "—",
                                    }
                                }
                                td {
                                    @match &site.outage {
                                        Some((proceed, reason)) => { @if *proceed { "✔ " } @else { "‖ " } (reason) },
                                        None => "—",
                                    }
                                }
                                td { (site.pending) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Overview", &access, main).into_response()
}

fn mesa_state(state: &AppState, snapshot: &Snapshot) -> Markup {
    let budget = state.metrics.mist_budget();
    let mode = state.config.ingest.mode;
    let stream = if mode.uses_stream() {
        Some(match state.metrics.stream().connections() {
            None => "site list not read yet".to_string(),
            Some((open, needed)) => format!("{open} of {needed} connections open"),
        })
    } else {
        None
    };
    html! {
        dl.facts {
            div { dt { "Mist API calls this hour" } dd { (budget.used()) " of " (budget.per_hour()) } }
            div {
                dt { "Events arrive by" }
                dd {
                    @if mode.uses_webhook() { "webhook (" (state.config.server.webhook_path) ")" }
                    @if mode.uses_webhook() && mode.uses_stream() { " and " }
                    @if let Some(stream) = &stream { "Mist stream: " (stream) }
                }
            }
            div { dt { "Pending events" } dd { (snapshot.pending.len()) } }
            div { dt { "Sites on hold" } dd { (snapshot.holds.len()) } }
        }
    }
}
