//! `GET /ui/decisions?site=&switch=&ap=&outcome=`: the timeline, newest first, of the last
//! [`RECENT`](crate::ui::view::RECENT) decisions, filtered. New decisions are prepended live.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{entry, store_failed};
use crate::http::AppState;
use crate::model::{same_switch_name, Decision, Mac};
use crate::ui::layout;
use crate::ui::session;

const OUTCOMES: [&str; 5] = [
    "applied",
    "already-in-place",
    "skipped",
    "rejected",
    "failed",
];

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub switch: String,
    #[serde(default)]
    pub ap: String,
    #[serde(default)]
    pub outcome: String,
}

impl Filter {
    pub fn accepts(&self, d: &Decision) -> bool {
        let site = self.site.trim();
        let switch = self.switch.trim();
        let ap = self.ap.trim();
        let outcome = self.outcome.trim();
        (site.is_empty() || d.event.site_id == site || d.event.site_name.as_deref() == Some(site))
            && (switch.is_empty()
                || d.changes
                    .iter()
                    .any(|c| same_switch_name(&c.switch.name, switch)))
            && (ap.is_empty()
                || Mac::parse(ap).is_ok_and(|mac| mac == d.event.ap_mac)
                || d.event.ap_name.as_deref() == Some(ap))
            && (outcome.is_empty() || d.outcome.label() == outcome)
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let decisions = match state.store.recent_decisions(crate::ui::view::RECENT).await {
        Ok(d) => d,
        Err(e) => return store_failed(e),
    };
    let shown: Vec<&Decision> = decisions.iter().filter(|d| filter.accepts(d)).collect();
    let main = html! {
        form.filters method="get" action="/ui/decisions" role="search" {
            label { "Site " input type="text" name="site" value=(filter.site); }
            label { "Switch " input type="text" name="switch" value=(filter.switch); }
            label { "AP (MAC or name) " input type="text" name="ap" value=(filter.ap); }
            label {
                "Outcome "
                select name="outcome" {
                    option value="" selected[filter.outcome.is_empty()] { "any" }
                    @for o in OUTCOMES {
                        option value=(o) selected[filter.outcome == o] { (o) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p { (shown.len()) " of the last " (decisions.len()) " decisions" }
        ol.timeline #timeline data-filtered=(if filter.site.is_empty() && filter.switch.is_empty() && filter.ap.is_empty() && filter.outcome.is_empty() { "no" } else { "yes" }) {
            @for d in &shown { (entry::render(d, &access)) }
        }
    };
    layout::page("Decisions", &access, main).into_response()
}
