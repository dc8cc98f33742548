//! What the stream has told mesa about each AP: the site it reports on, when it was last
//! heard, the switch port of its last LLDP report. Pure state, no I/O: the hub asks it
//! whether a report shows a port that is new for the AP, and which APs went silent.
//!
//! Silence is only judged on a site whose channel is live, counted from the later of the
//! AP's last report and the moment the channel came (back) up: while a connection is down
//! every AP of its sites is silent, and that says nothing about the APs.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::clock::Instant;

use super::message::ApReport;
use crate::model::{InterfaceName, Mac};

/// The switch port an AP was last seen on, by LLDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSeen {
    pub switch_name: String,
    pub switch_mac: Option<Mac>,
    pub port: InterfaceName,
}

impl PortSeen {
    /// Same switch (by MAC when both sides know it, else by name, FQDN or not) and port.
    pub fn same_place(
        &self,
        switch_name: &str,
        switch_mac: Option<&Mac>,
        port: &InterfaceName,
    ) -> bool {
        if &self.port != port {
            return false;
        }
        match (&self.switch_mac, switch_mac) {
            (Some(a), Some(b)) => a == b,
            _ => same_switch_name(&self.switch_name, switch_name),
        }
    }
}

/// `sw1` and `sw1.campus.example` name the same switch; case does not matter.
pub fn same_switch_name(a: &str, b: &str) -> bool {
    let first = |s: &str| {
        s.trim()
            .split('.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    a.trim().eq_ignore_ascii_case(b.trim()) || (!first(a).is_empty() && first(a) == first(b))
}

/// What a report means for the AP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// LLDP names a port the tracker does not know the AP on (or nothing was known).
    NewPort(PortSeen),
    /// Same port as before, no LLDP in this message, or an LLDP port that is no Junos name.
    Nothing,
}

#[derive(Debug, Clone)]
struct TrackedAp {
    site_id: String,
    last_heard: Instant,
    port: Option<PortSeen>,
    /// A REST read for it is under way: not asked again until its answer.
    checking: bool,
}

#[derive(Debug, Default)]
pub struct Tracker {
    aps: HashMap<Mac, TrackedAp>,
    /// Sites whose channel is subscribed, and since when.
    live: HashMap<String, Instant>,
    silence: Duration,
}

impl Tracker {
    pub fn new(silence: Duration) -> Tracker {
        Tracker {
            silence,
            ..Tracker::default()
        }
    }

    pub fn site_up(&mut self, site: &str, now: Instant) {
        self.live.insert(site.to_string(), now);
    }

    pub fn site_down(&mut self, site: &str) {
        self.live.remove(site);
    }

    pub fn is_live(&self, site: &str) -> bool {
        self.live.contains_key(site)
    }

    /// Records the report; says whether its LLDP port is new for the AP.
    pub fn heard(&mut self, report: &ApReport, now: Instant) -> Heard {
        let ap = self
            .aps
            .entry(report.mac.clone())
            .or_insert_with(|| TrackedAp {
                site_id: report.site_id.clone(),
                last_heard: now,
                port: None,
                checking: false,
            });
        ap.site_id = report.site_id.clone();
        ap.last_heard = now;
        // Heard while its silence was being checked: the check's answer no longer applies.
        ap.checking = false;
        let Some(lldp) = &report.lldp else {
            return Heard::Nothing;
        };
        let Ok(port) = &lldp.port else {
            return Heard::Nothing;
        };
        let known = ap.port.as_ref().is_some_and(|seen| {
            seen.same_place(&lldp.system_name, lldp.chassis_mac.as_ref(), port)
        });
        if known {
            return Heard::Nothing;
        }
        Heard::NewPort(PortSeen {
            switch_name: lldp.system_name.clone(),
            switch_mac: lldp.chassis_mac.clone(),
            port: port.clone(),
        })
    }

    /// An AP mesa holds an AP port for (from the store), expected to report on `site`:
    /// if it never does, its silence is checked like any other. Known APs are left alone.
    pub fn expect(&mut self, mac: &Mac, site: &str, seen: PortSeen, now: Instant) {
        self.aps.entry(mac.clone()).or_insert_with(|| TrackedAp {
            site_id: site.to_string(),
            last_heard: now,
            port: Some(seen),
            checking: false,
        });
    }

    /// The AP is where `seen` says, as far as mesa is concerned (event journaled, or the
    /// store already shows it there).
    pub fn settle(&mut self, mac: &Mac, seen: PortSeen) {
        if let Some(ap) = self.aps.get_mut(mac) {
            ap.port = Some(seen);
        }
    }

    /// Silent APs of live sites, by site, now marked as being checked.
    pub fn take_silent(&mut self, now: Instant) -> BTreeMap<String, Vec<Mac>> {
        let mut silent: BTreeMap<String, Vec<Mac>> = BTreeMap::new();
        for (mac, ap) in self.aps.iter_mut() {
            if ap.checking {
                continue;
            }
            let Some(live_since) = self.live.get(&ap.site_id) else {
                continue;
            };
            let quiet_since = ap.last_heard.max(*live_since);
            if now.saturating_duration_since(quiet_since) >= self.silence {
                ap.checking = true;
                silent
                    .entry(ap.site_id.clone())
                    .or_default()
                    .push(mac.clone());
            }
        }
        for macs in silent.values_mut() {
            macs.sort();
        }
        silent
    }

    /// True while a silence check of the AP is under way and it has not reported since.
    pub fn still_silent(&self, mac: &Mac) -> bool {
        self.aps.get(mac).is_some_and(|ap| ap.checking)
    }

    /// Mist says the AP is still connected (or could not be asked): silence counts anew.
    pub fn still_there(&mut self, mac: &Mac, now: Instant) {
        if let Some(ap) = self.aps.get_mut(mac) {
            ap.checking = false;
            ap.last_heard = now;
        }
    }

    /// The AP is gone (confirmed disconnected, or no longer on the site): forgotten until it
    /// reports again, when its port is judged afresh.
    pub fn forget(&mut self, mac: &Mac) {
        self.aps.remove(mac);
    }

    pub fn len(&self) -> usize {
        self.aps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.aps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::stream::message::LldpSeen;

    fn report(mac: &str, site: &str, port: Option<&str>) -> ApReport {
        ApReport {
            mac: Mac::parse(mac).unwrap(),
            site_id: site.into(),
            name: None,
            last_seen: Some(1.0),
            lldp: port.map(|p| LldpSeen {
                system_name: "sw1.campus.example".into(),
                chassis_mac: None,
                port: InterfaceName::parse(p).map_err(|e| e.to_string()),
            }),
        }
    }

    #[test]
    fn a_port_is_new_once() {
        let mut t = Tracker::new(Duration::from_secs(90));
        let now = Instant::now();
        let r = report("5c5b35000001", "s", Some("ge-0/0/1"));
        let Heard::NewPort(seen) = t.heard(&r, now) else {
            panic!("first LLDP report is new");
        };
        // Not settled (e.g. the journal refused it): still new next time.
        assert!(matches!(t.heard(&r, now), Heard::NewPort(_)));
        t.settle(&r.mac, seen);
        assert_eq!(t.heard(&r, now), Heard::Nothing);
        assert_eq!(
            t.heard(&report("5c5b35000001", "s", None), now),
            Heard::Nothing
        );
        assert!(matches!(
            t.heard(&report("5c5b35000001", "s", Some("ge-0/0/2")), now),
            Heard::NewPort(_)
        ));
        assert_eq!(
            t.heard(&report("5c5b35000001", "s", Some("526")), now),
            Heard::Nothing
        );
    }

    #[test]
    fn silence_only_on_live_sites_and_counted_from_the_reconnect() {
        let silence = Duration::from_secs(90);
        let mut t = Tracker::new(silence);
        let start = Instant::now();
        t.heard(&report("5c5b35000001", "s", None), start);
        assert!(
            t.take_silent(start + silence * 2).is_empty(),
            "site not live"
        );
        t.site_up("s", start + silence);
        assert!(t.take_silent(start + silence + silence / 2).is_empty());
        let silent = t.take_silent(start + silence * 2);
        assert_eq!(silent.get("s").map(Vec::len), Some(1));
        assert!(
            t.take_silent(start + silence * 3).is_empty(),
            "being checked"
        );
        let mac = Mac::parse("5c5b35000001").unwrap();
        t.still_there(&mac, start + silence * 3);
        assert!(t.take_silent(start + silence * 3).is_empty());
        t.site_down("s");
        assert!(t.take_silent(start + silence * 9).is_empty());
    }

    #[test]
    fn switch_names_fqdn_or_short() {
        assert!(same_switch_name("sw1", "SW1.campus.example"));
        assert!(!same_switch_name("sw1", "sw10"));
    }
}
