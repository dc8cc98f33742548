//! One decision as the timeline, the port page and the live feed show it: what happened,
//! to which AP and port, each guard's verdict with its numbers, the planned Junos lines and
//! the result. Failed ones carry a Retry button for an admin.

use maud::{html, Markup};

use super::{ap_href, port_href, site_href};
use crate::model::{Decision, Outcome};
use crate::ui::session::Access;

/// A failure that is final (not one announced while its event is still being retried).
pub fn retryable(d: &Decision) -> bool {
    matches!(d.outcome, Outcome::Failed { .. }) && !d.will_retry
}

fn outcome_css(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "oc-applied",
        Outcome::AlreadyInPlace => "oc-in-place",
        Outcome::Skipped { .. } => "oc-skipped",
        Outcome::Rejected { .. } => "oc-rejected",
        Outcome::Failed { .. } => "oc-failed",
    }
}

pub fn render(d: &Decision, access: &Access) -> Markup {
    let e = &d.event;
    let id = format!("d-{}", e.id);
    html! {
        li.decision.(outcome_css(&d.outcome)) id=(id) data-event=(e.id) {
            div.decision-head {
                span.badge { (d.outcome.label()) }
                @if d.will_retry { span.badge.retrying { "retrying" } }
                " "
                time datetime=(d.decided_at.to_rfc3339()) { (crate::ui::layout::when(&d.decided_at)) }
                " · " (e.kind.as_str()) " · "
                a href=(ap_href(&e.ap_mac)) { "AP " (e.ap_name.clone().unwrap_or_else(|| e.ap_mac.colon())) }
                " · site "
                a href=(site_href(&e.site_id)) { (e.site_name.clone().unwrap_or_else(|| e.site_id.clone())) }
                " · via " (e.source.as_str())
            }
            p.summary { (d.outcome.summary()) }
            @for c in &d.changes {
                p.change {
                    a href=(port_href(&c.switch.name, c.port.as_str())) { (c.switch.name) " " (c.port) }
                    " → " strong { (c.profile.as_str()) } " — " (c.reason)
                }
            }
            details {
                summary { "Guards, numbers, Junos lines (" (d.verdicts.len()) " verdicts, " (d.duration_ms) " ms)" }
                @if !d.verdicts.is_empty() {
                    table.verdicts {
                        caption { "Guard verdicts" }
                        thead { tr { th scope="col" { "Guard" } th scope="col" { "Verdict" } th scope="col" { "Why" } th scope="col" { "Numbers" } } }
                        tbody {
                            @for v in &d.verdicts {
                                tr {
                                    td { (v.guard) }
                                    td { @if v.proceed { "✔ proceed" } @else { "‖ hold" } }
                                    td { (v.reason) }
                                    td { @if !v.numbers.is_null() { code { (v.numbers.to_string()) } } }
                                }
                            }
                        }
                    }
                }
                @if !d.lookups.is_empty() {
                    p { "Steps" }
                    ol.steps { @for step in &d.lookups { li { (step) } } }
                }
                @if let Some(diff) = &d.diff {
                    p { "Junos lines (" (d.backend) ")" }
                    pre.diff { (diff) }
                }
            }
            @if retryable(d) && access.admin {
                @if let Some(csrf) = &access.csrf {
                    form.inline method="post" action="/ui/decisions/retry" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="event_id" value=(e.id);
                        button type="submit" { "Retry this event" }
                    }
                }
            }
        }
    }
}
