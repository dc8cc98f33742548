//! Response shapes from the Mist OpenAPI spec, reduced to the fields mesa reads.

use serde::Deserialize;

/// One result of `GET /sites/{site_id}/devices/search` or `/orgs/{org_id}/devices/search`
/// (`response_device_search_results_items`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceSearchItem {
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub site_id: Option<String>,
    #[serde(default)]
    pub lldp_system_name: Option<String>,
    #[serde(default)]
    pub lldp_port_id: Option<String>,
    #[serde(default)]
    pub lldp_port_desc: Option<String>,
    #[serde(default)]
    pub lldp_mgmt_addr: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SwitchInfo {
    pub name: String,
    pub mac: crate::model::Mac,
    pub site_id: String,
    pub mgmt_ip: Option<String>,
    pub device_id: String,
}
