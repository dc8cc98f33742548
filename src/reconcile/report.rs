//! What a reconcile run found and did, for people (a table) and scripts (JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::plan::{Adoption, Counts, Planned, PortAction};
use crate::output::count;

/// The result of one reconcile run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// `org <id>` or `site <id>`.
    pub scope: String,
    pub dry_run: bool,
    pub adopt: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Mist API calls made to read the state (AP stats pages, switch search pages).
    pub mist_calls_read: u64,
    /// All Mist API calls made during the run, including the engine's for the planned
    /// events when the run waited for them. In `serve`, calls of concurrent webhook events
    /// are counted too.
    pub mist_calls: u64,
    pub counts: Counts,
    pub planned: Vec<Planned>,
    pub adopted: Vec<Adoption>,
    pub notes: Vec<String>,
    /// Events handed to the journal (0 for a dry run or an adoption).
    pub submitted: usize,
    /// Ids of the events handed to the journal.
    pub event_ids: Vec<String>,
    /// Final outcome label → count, when the run waited for the engine.
    pub outcomes: BTreeMap<String, usize>,
}

impl ReconcileReport {
    /// Every port row of the plan, in plan order.
    pub fn actions(&self) -> impl Iterator<Item = &PortAction> {
        self.planned.iter().flat_map(|p| p.actions.iter())
    }

    /// The report as a person reads it: the plan (or the adoptions) as a table, then the
    /// notes and a summary line.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if self.adopt {
            let rows: Vec<[String; 5]> = self
                .adopted
                .iter()
                .map(|a| {
                    [
                        a.site_id.clone(),
                        a.switch.clone(),
                        a.port.to_string(),
                        ap_label(&a.ap_mac.colon(), a.ap_name.as_deref()),
                        "ap (adopted as managed)".into(),
                    ]
                })
                .collect();
            let verb = if self.dry_run {
                "would adopt"
            } else {
                "adopted"
            };
            let _ = writeln!(out, "{} port(s) {verb}:", rows.len());
            table(&mut out, ["SITE", "SWITCH", "PORT", "AP", "PROFILE"], &rows);
        } else {
            let rows: Vec<[String; 6]> = self
                .actions()
                .map(|a| {
                    [
                        a.site_id.clone(),
                        a.switch.clone(),
                        a.port.to_string(),
                        ap_label(&a.ap_mac.colon(), a.ap_name.as_deref()),
                        format!(
                            "{} → {}",
                            a.current.map(|p| p.as_str()).unwrap_or("unknown"),
                            a.target
                        ),
                        a.why.clone(),
                    ]
                })
                .collect();
            let verb = if self.dry_run { "planned" } else { "to apply" };
            let _ = writeln!(out, "{} port change(s) {verb}:", rows.len());
            table(
                &mut out,
                ["SITE", "SWITCH", "PORT", "AP", "CURRENT → TARGET", "WHY"],
                &rows,
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let c = &self.counts;
        let _ = write!(
            out,
            "{}: {}, {} ({} connected, {} disconnected); {} in place, {} waiting for revert_after, {} busy; {} to read ({} in all), {} ms",
            self.scope,
            count(c.sites as u64, "site"),
            count(c.aps as u64, "AP"),
            c.connected,
            c.disconnected,
            c.in_place,
            c.waiting,
            c.busy,
            count(self.mist_calls_read, "Mist call"),
            self.mist_calls,
            self.duration_ms
        );
        if self.dry_run {
            out.push_str("; dry run: nothing changed");
        } else if !self.adopt {
            let _ = write!(out, "; {} journaled", count(self.submitted as u64, "event"));
            if !self.outcomes.is_empty() {
                let outcomes: Vec<String> = self
                    .outcomes
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect();
                let _ = write!(out, " ({})", outcomes.join(", "));
            }
        }
        out.push('\n');
        out
    }
}

fn ap_label(mac: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{mac} ({name})"),
        None => mac.to_string(),
    }
}

/// Left-aligned columns, as wide as their widest cell; the last column is not padded.
fn table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&header);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
}
