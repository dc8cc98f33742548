//! Response shapes from the Mist OpenAPI spec (`mist.openapi.json`, v2509.1.1), reduced to the
//! fields mesa reads. Every field Mist may omit is optional: Mist leaves out what it does not
//! know yet (an AP without an LLDP neighbor has no `lldp_*` keys at all).
//!
//! MACs from Mist are parsed leniently: a missing, empty or odd MAC becomes `None` rather than
//! failing the whole response, because one strange device must not blind mesa to a site.

use serde::{Deserialize, Deserializer};

use crate::model::Mac;

/// `00000000-0000-0000-1000-<mac>`: how Mist names a device after its MAC.
pub fn device_id(mac: &Mac) -> String {
    format!("00000000-0000-0000-1000-{mac}")
}

/// Envelope of `GET /sites/{site_id}/devices/search` and `/orgs/{org_id}/devices/search`
/// (schema `response_device_search`: `results`, `limit`, `start`, `end`, `total`, `next?`).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage<T> {
    pub results: Vec<T>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
    /// A link to the next page of results, when there are more.
    #[serde(default)]
    pub next: Option<String>,
}

/// One AP or switch from a device search (schemas `ap_search` / `switch_search`, members of
/// `response_device_search_results_items`). `hostname` is an array of strings in both.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceSearchItem {
    #[serde(default, deserialize_with = "lenient_mac")]
    pub mac: Option<Mac>,
    /// `ap_search_hostnames` / `strings`: current and former hostnames.
    #[serde(default, deserialize_with = "string_or_list")]
    pub hostname: Vec<String>,
    #[serde(default)]
    pub last_hostname: Option<String>,
    #[serde(default, rename = "type")]
    pub device_type: Option<String>,
    #[serde(default)]
    pub site_id: Option<String>,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub lldp_system_name: Option<String>,
    #[serde(default)]
    pub lldp_port_id: Option<String>,
    #[serde(default)]
    pub lldp_port_desc: Option<String>,
    #[serde(default)]
    pub lldp_mgmt_addr: Option<String>,
    #[serde(default)]
    pub timestamp: Option<f64>,
}

impl DeviceSearchItem {
    /// The name a person knows the device by. A switch's `hostname` list holds its current
    /// and former names in no promised order, and `last_hostname` is the current one; for an
    /// AP the first hostname is its name (the second is often its MAC).
    pub fn name(&self) -> Option<&str> {
        let last = self.last_hostname.as_deref().filter(|h| !h.is_empty());
        let first = self
            .hostname
            .iter()
            .map(String::as_str)
            .find(|h| !h.is_empty());
        if self.device_type.as_deref() == Some("switch") {
            last.or(first)
        } else {
            first.or(last)
        }
    }

    /// Whether `name` is this device's current name (`last_hostname`, or when Mist reports
    /// none, any of `hostname`), case-insensitively.
    pub fn is_named(&self, name: &str) -> bool {
        match self.last_hostname.as_deref().filter(|h| !h.is_empty()) {
            Some(last) => last.eq_ignore_ascii_case(name),
            None => self.hostname.iter().any(|h| h.eq_ignore_ascii_case(name)),
        }
    }

    /// Whether `name` is one of the device's former names only.
    pub fn was_named(&self, name: &str) -> bool {
        !self.is_named(name) && self.hostname.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// True once Mist has learned the AP's LLDP neighbor: a switch name and some port.
    pub fn has_lldp(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        set(&self.lldp_system_name) && (set(&self.lldp_port_id) || set(&self.lldp_port_desc))
    }
}

/// A switch as Mist knows it, from a `type=switch` device search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchInfo {
    pub name: String,
    pub mac: Mac,
    pub site_id: String,
    pub mgmt_ip: Option<String>,
    /// `00000000-0000-0000-1000-<mac>`, for `/sites/{site_id}/devices/{device_id}`.
    pub device_id: String,
}

impl SwitchInfo {
    /// `None` when the search item lacks a MAC or a site (nothing mesa could act on).
    pub fn from_search(item: &DeviceSearchItem) -> Option<SwitchInfo> {
        let mac = item.mac.clone()?;
        let site_id = item.site_id.clone().filter(|s| !s.is_empty())?;
        Some(SwitchInfo {
            name: item
                .name()
                .map(str::to_string)
                .unwrap_or_else(|| mac.to_string()),
            device_id: device_id(&mac),
            mac,
            site_id,
            mgmt_ip: item.ip.clone().filter(|s| !s.is_empty()),
        })
    }
}

/// LLDP neighbor of an AP as seen by the AP (schema `stats_ap_lldp_stat`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ApLldpStat {
    #[serde(default)]
    pub system_name: Option<String>,
    #[serde(default)]
    pub port_id: Option<String>,
    #[serde(default)]
    pub port_desc: Option<String>,
    #[serde(default)]
    pub mgmt_addr: Option<String>,
    #[serde(default)]
    pub chassis_id: Option<String>,
}

/// One AP of `GET /sites/{site_id}/stats/devices?type=ap` (schema `stats_ap`, a member of
/// `stats_device`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApStat {
    pub mac: Mac,
    pub name: Option<String>,
    pub site_id: Option<String>,
    /// `connected`, `disconnected`, `restarting`, `upgrading`, ...
    pub status: String,
    /// Epoch seconds (schema `last_seen`, a double).
    pub last_seen: Option<f64>,
    pub lldp_stat: Option<ApLldpStat>,
}

impl ApStat {
    pub fn is_disconnected(&self) -> bool {
        self.status.eq_ignore_ascii_case("disconnected")
    }
}

/// The wire form of `stats_ap`; `mac` is nullable in the spec, so [`ApStat`] is built only
/// from entries that carry one.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApStatWire {
    #[serde(default, deserialize_with = "lenient_mac")]
    pub mac: Option<Mac>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub site_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_seen: Option<f64>,
    #[serde(default)]
    pub lldp_stat: Option<ApLldpStat>,
}

impl ApStatWire {
    pub fn into_stat(self) -> Option<ApStat> {
        Some(ApStat {
            mac: self.mac?,
            name: self.name,
            site_id: self.site_id,
            // A stats entry without a status is treated as unknown, never as "down".
            status: self.status.unwrap_or_else(|| "unknown".into()),
            last_seen: self.last_seen,
            lldp_stat: self.lldp_stat,
        })
    }
}

/// One switch port from `GET /sites/{site_id}/stats/ports/search` (schema `stats_switch_port`
/// inside `response_switch_port_search`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PortStat {
    /// The switch's MAC.
    #[serde(default, deserialize_with = "lenient_mac")]
    pub mac: Option<Mac>,
    #[serde(default)]
    pub port_id: String,
    /// Missing means Mist does not report the port as up.
    #[serde(default)]
    pub up: bool,
    /// Required in the spec, but empty when nothing is attached.
    #[serde(default, deserialize_with = "lenient_mac")]
    pub neighbor_mac: Option<Mac>,
    #[serde(default)]
    pub neighbor_system_name: Option<String>,
    #[serde(default)]
    pub neighbor_port_desc: Option<String>,
}

fn lenient_mac<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mac>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.and_then(|s| Mac::parse(&s).ok()))
}

/// The spec says array; older payloads and some senders use a plain string.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_example_from_spec_decodes() {
        // `components.examples.DevicesSearchAp` from mist.openapi.json, trimmed.
        let body = r#"{"end":0,"limit":0,"next":"string","results":[{"hostname":["AP41-STB-3E5299-WH-2001","5c5b353e5299"],
          "ip":"10.2.16.205","lldp_mgmt_addr":"10.2.10.139","lldp_port_desc":"GigabitEthernet1/0/1","lldp_port_id":"Gi1/0/1",
          "lldp_system_name":"ME-DC-1-ACC-SW","mac":"5c5b353e5299","model":"AP41","mxtunnel_status":"down",
          "org_id":"6748cfa6-4e12-11e6-9188-0242ac110007","power_constrained":false,"power_opmode":"",
          "site_id":"a8178443-ecb5-461c-b854-f16627619ab3","timestamp":1596588619.007,"type":"ap","wlans":[]}],"start":0,"total":0}"#;
        let page: SearchPage<DeviceSearchItem> = serde_json::from_str(body).unwrap();
        let item = &page.results[0];
        assert_eq!(item.name(), Some("AP41-STB-3E5299-WH-2001"));
        assert_eq!(item.mac.as_ref().map(Mac::as_str), Some("5c5b353e5299"));
        assert!(item.has_lldp());
    }

    #[test]
    fn a_switch_is_named_by_last_hostname() {
        // `hostname` holds former names too, in no promised order.
        let body = r#"{"mac":"00c78d939c00","type":"switch","site_id":"s",
          "hostname":["idf1-old","idf1-new"],"last_hostname":"idf1-new"}"#;
        let item: DeviceSearchItem = serde_json::from_str(body).unwrap();
        assert_eq!(item.name(), Some("idf1-new"));
        assert!(item.is_named("IDF1-NEW"));
        assert!(!item.is_named("idf1-old"));
        assert!(item.was_named("idf1-old"));
        assert_eq!(
            SwitchInfo::from_search(&item).map(|s| s.name),
            Some("idf1-new".to_string())
        );
        let no_last: DeviceSearchItem =
            serde_json::from_str(r#"{"type":"switch","hostname":["sw-a"]}"#).unwrap();
        assert_eq!(no_last.name(), Some("sw-a"));
        assert!(no_last.is_named("sw-a"));
    }

    #[test]
    fn port_example_from_spec_decodes() {
        // `components.examples.SwitchPortsSearchExample`, trimmed.
        let body = r#"{"mac":"5c4527a96580","neighbor_mac":"64d814353400","neighbor_port_desc":"GigabitEthernet1/0/21",
          "neighbor_system_name":"CORP-D-SW-2","port_id":"ge-0/0/0","up":true,"speed":1000}"#;
        let port: PortStat = serde_json::from_str(body).unwrap();
        assert!(port.up);
        assert_eq!(
            port.neighbor_mac.map(String::from),
            Some("64d814353400".into())
        );
        let empty: PortStat = serde_json::from_str(
            r#"{"mac":"5c4527a96580","port_id":"ge-0/0/1","neighbor_mac":""}"#,
        )
        .unwrap();
        assert_eq!(empty.neighbor_mac, None);
        assert!(!empty.up);
    }
}
