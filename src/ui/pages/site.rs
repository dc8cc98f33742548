//! `GET /ui/sites/{site}`: the site's switches, each as port grids laid out like the front
//! panel (48 ports a row, odd ports on top), coloured and labelled by [`PortState`]; each
//! port opens its page. The hold and release forms for an admin, and the site's decisions.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{entry, port_href, store_failed};
use crate::http::AppState;
use crate::store::PortRecord;
use crate::ui::layout::{self, when};
use crate::ui::session::{self, Access};
use crate::ui::view::{slot, PortState, Snapshot};

/// Ports per row, as on a 48-port EX front panel.
const ROW: u32 = 48;

pub async fn page(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let snapshot = match Snapshot::load(state.store.as_ref()).await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let summary = snapshot.site(&site_id);
    let mut switches: BTreeMap<&str, Vec<&PortRecord>> = BTreeMap::new();
    for record in snapshot.ports.iter().filter(|p| p.site_id == site_id) {
        switches
            .entry(&record.switch_name)
            .or_default()
            .push(record);
    }
    let decisions: Vec<_> = snapshot
        .decisions
        .iter()
        .filter(|d| d.event.site_id == site_id)
        .take(20)
        .collect();
    let title = match &summary.site_name {
        Some(name) => format!("Site {name}"),
        None => format!("Site {site_id}"),
    };
    let main = html! {
        p { "Site id " code { (site_id) } " · " (summary.aps) " APs seen · " (summary.pending) " pending events" }
        (hold_section(&site_id, &snapshot, &access))
        (legend())
        @if switches.is_empty() {
            p { "mesa manages no port on this site yet." }
        }
        @for (switch, records) in &switches {
            (switch_grid(switch, records, &snapshot))
        }
        h2 { "Recent decisions" }
        p { a href={ "/ui/decisions?" (serde_urlencoded::to_string([("site", site_id.as_str())]).unwrap_or_default()) } { "All decisions of this site" } }
        ol.timeline #timeline {
            @for d in &decisions { (entry::render(d, &access)) }
        }
    };
    layout::page(&title, &access, main).into_response()
}

pub fn legend() -> Markup {
    html! {
        ul.legend aria-label="Port colours" {
            @for s in PortState::ALL {
                li { span.chip.(s.css()) aria-hidden="true" { (s.glyph()) } " " (s.label()) }
            }
        }
    }
}

fn hold_section(site_id: &str, snapshot: &Snapshot, access: &Access) -> Markup {
    let hold = snapshot.hold(site_id);
    let base = super::site_href(site_id);
    html! {
        section.hold aria-labelledby="hold-h" {
            h2 #hold-h { "Maintenance hold" }
            @match hold {
                Some(h) => {
                    p #hold-state { "‖ " (h.describe()) " — no reverts on this site; connects still apply." }
                },
                None => { p #hold-state { "No hold: mesa reverts ports here as usual." } },
            }
            @if let (true, Some(csrf)) = (access.admin, &access.csrf) {
                @if hold.is_some() {
                    form method="post" action={ (base) "/release" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Release the hold" }
                    }
                } @else {
                    form.hold-form method="post" action={ (base) "/hold" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="hold-for" { "For (e.g. 2h, 30m; empty: until released)" }
                        input #hold-for type="text" name="for" inputmode="text" placeholder="2h";
                        label for="hold-reason" { "Reason" }
                        input #hold-reason type="text" name="reason" placeholder="uplink swap";
                        button type="submit" { "Hold this site" }
                    }
                }
            }
        }
    }
}

/// One member's (fpc/pic) media prefix and its recorded ports by number.
type Member<'a> = (String, BTreeMap<u32, &'a PortRecord>);

fn switch_grid(switch: &str, records: &[&PortRecord], snapshot: &Snapshot) -> Markup {
    // Members (fpc/pic) in order; each slot number to its record.
    let mut members: BTreeMap<(u32, u32), Member> = BTreeMap::new();
    let mut others = Vec::new();
    for record in records {
        match slot(&record.port) {
            Some((media, fpc, pic, n)) => {
                let member = members
                    .entry((fpc, pic))
                    .or_insert_with(|| (media, BTreeMap::new()));
                member.1.insert(n, record);
            }
            None => others.push(*record),
        }
    }
    html! {
        section.switch aria-label={ "Switch " (switch) } {
            h2 { "Switch " (switch) }
            @for ((fpc, pic), (media, ports)) in &members {
                @let highest = ports.keys().next_back().copied().unwrap_or(0);
                @let rows = highest / ROW + 1;
                @for row in 0..rows {
                    h3.member { "Member " (fpc) ", PIC " (pic) @if rows > 1 { ", ports " (row * ROW) "–" (row * ROW + ROW - 1) } }
                    div.grid role="list" {
                        @for n in (row * ROW)..(row * ROW + ROW) {
                            @let name = format!("{media}-{fpc}/{pic}/{n}");
                            @match ports.get(&n) {
                                Some(record) => (cell(switch, &name, n, snapshot.state_of(record), Some(record))),
                                None => (cell(switch, &name, n, PortState::Unmanaged, None)),
                            }
                        }
                    }
                }
            }
            @for record in &others {
                p { a href=(port_href(switch, record.port.as_str())) { (record.port) } }
            }
        }
    }
}

fn cell(switch: &str, name: &str, n: u32, state: PortState, record: Option<&PortRecord>) -> Markup {
    let ap = record
        .and_then(|r| r.ap_mac.as_ref())
        .map(|m| format!(", AP {}", m.colon()))
        .unwrap_or_default();
    let since = record
        .map(|r| format!(", since {}", when(&r.since)))
        .unwrap_or_default();
    // Held and failed hide the profile in the colour: the label still says it.
    let profile = match (state, record) {
        (PortState::Held | PortState::Failed, Some(r)) => {
            format!(" ({} profile)", r.profile.as_str())
        }
        _ => String::new(),
    };
    let label = format!("{name}: {}{profile}{ap}{since}", state.label());
    html! {
        a.port.(state.css()) role="listitem" href=(port_href(switch, name)) aria-label=(label) title=(label) data-port=(name) data-state=(state.label()) {
            span.num { (n) } span.glyph aria-hidden="true" { (state.glyph()) }
        }
    }
}
