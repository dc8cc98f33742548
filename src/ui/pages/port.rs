//! `GET /ui/port?switch=&port=` and `GET /ui/ap/{mac}`: everything mesa knows about one
//! port (its record, state, AP, history) or one AP (where it was last seen, the ports it
//! holds, its decisions), linked both ways.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{ap_href, entry, port_href, site_href, store_failed};
use crate::http::AppState;
use crate::model::{same_switch_name, InterfaceName, Mac};
use crate::ui::layout::{self, when};
use crate::ui::session;
use crate::ui::view::{PortState, Snapshot};

#[derive(Deserialize)]
pub struct PortQuery {
    #[serde(default)]
    switch: String,
    #[serde(default)]
    port: String,
}

pub async fn port_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PortQuery>,
) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let port = match InterfaceName::parse(&query.port) {
        Ok(port) if !query.switch.trim().is_empty() => port,
        Ok(_) => return bad_request("A switch name is required."),
        Err(e) => return bad_request(&e.to_string()),
    };
    let switch = query.switch.trim();
    let snapshot = match Snapshot::load(state.store.as_ref()).await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let record = snapshot
        .ports
        .iter()
        .find(|p| same_switch_name(&p.switch_name, switch) && p.port == port);
    let port_state = record.map_or(PortState::Unmanaged, |r| snapshot.state_of(r));
    let history: Vec<_> = snapshot.port_decisions(switch, &port).collect();
    let main = html! {
        p.state {
            span.chip.(port_state.css()) aria-hidden="true" { (port_state.glyph()) }
            " " strong #port-state { (port_state.label()) }
        }
        @match record {
            Some(r) => {
                dl.facts {
                    div { dt { "Profile" } dd { (r.profile.as_str()) } }
                    div { dt { "Set by mesa" } dd { @if r.managed { "yes: reverted when its AP leaves" } @else { "no: left alone" } } }
                    div { dt { "Since" } dd { (when(&r.since)) } }
                    div { dt { "Site" } dd { a href=(site_href(&r.site_id)) { (snapshot.site_name(&r.site_id).unwrap_or_else(|| r.site_id.clone())) } } }
                    div { dt { "Switch MAC" } dd { (r.switch_mac.as_ref().map(|m| m.colon()).unwrap_or_else(|| "unknown".into())) } }
                    div { dt { "AP" } dd { @match &r.ap_mac { Some(mac) => { a href=(ap_href(mac)) { (mac.colon()) } }, None => "none" } } }
                    @if let Some(id) = &r.event_id { div { dt { "Last event" } dd { code { (id) } } } }
                }
            },
            None => { p { "mesa has no record of this port: it never set it." } },
        }
        h2 { "History" }
        @if history.is_empty() { p { "No decision about this port among the recent ones." } }
        ol.timeline #timeline {
            @for d in &history { (entry::render(d, &access)) }
        }
    };
    layout::page(&format!("{switch} {port}"), &access, main).into_response()
}

pub async fn ap_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(mac): Path<String>,
) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let mac = match Mac::parse(&mac) {
        Ok(mac) => mac,
        Err(e) => return bad_request(&e.to_string()),
    };
    let ap = match state.store.ap(&mac).await {
        Ok(ap) => ap,
        Err(e) => return store_failed(e),
    };
    let snapshot = match Snapshot::load(state.store.as_ref()).await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let ports: Vec<_> = snapshot
        .ports
        .iter()
        .filter(|p| p.ap_mac.as_ref() == Some(&mac))
        .collect();
    let history: Vec<_> = snapshot
        .decisions
        .iter()
        .filter(|d| d.event.ap_mac == mac)
        .collect();
    let name = ap
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_else(|| mac.colon());
    let main = html! {
        @match &ap {
            Some(a) => {
                dl.facts {
                    div { dt { "MAC" } dd { (mac.colon()) } }
                    div { dt { "Last seen" } dd { (when(&a.last_seen)) " (" (a.last_event) ")" } }
                    div { dt { "On" } dd { a href=(port_href(&a.switch_name, a.port.as_str())) { (a.switch_name) " " (a.port) } } }
                    div { dt { "Site" } dd { a href=(site_href(&a.site_id)) { (snapshot.site_name(&a.site_id).unwrap_or_else(|| a.site_id.clone())) } } }
                }
            },
            None => { p { "mesa has not seen this AP on a switch port." } },
        }
        h2 { "Ports it holds" }
        @if ports.is_empty() { p { "None." } }
        ul {
            @for p in &ports {
                @let st = snapshot.state_of(p);
                li { a href=(port_href(&p.switch_name, p.port.as_str())) { (p.switch_name) " " (p.port) } " — " span.chip.(st.css()) aria-hidden="true" { (st.glyph()) } " " (st.label()) }
            }
        }
        h2 { "History" }
        ol.timeline #timeline {
            @for d in &history { (entry::render(d, &access)) }
        }
    };
    layout::page(&format!("AP {name}"), &access, main).into_response()
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        layout::problem("Not a port or AP", why),
    )
        .into_response()
}
