//! Frames of the Mist WebSocket stream, decoded: subscription answers
//! (`{"event": "channel_subscribed" | "subscribe_failed", "channel", "detail"?}`) and data
//! (`{"event": "data", "channel", "data"}`), whose `data` is a JSON *string* on stats
//! channels and an object on others; both are accepted.
//!
//! A device-stats payload becomes an [`ApReport`]. AP stats carry no `site_id` (it comes from
//! the channel), and some are partial (no `model` / `type`, sometimes no LLDP): a report says
//! only what its message said.

use serde::Deserialize;
use serde_json::Value;

use crate::engine::lookup::interface_from_lldp;
use crate::mist::types::ApLldpStat;
use crate::model::{InterfaceName, Mac};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame has no \"event\"")]
    NoEvent,
    #[error("{event} frame has no \"channel\"")]
    NoChannel { event: String },
    #[error("\"data\" of {channel} is not JSON: {reason}")]
    BadData { channel: String, reason: String },
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Subscribed {
        channel: String,
    },
    SubscribeFailed {
        channel: String,
        detail: String,
    },
    Data {
        channel: String,
        data: Value,
    },
    /// An event mesa does not know; counted, otherwise ignored.
    Other {
        event: String,
    },
}

#[derive(Deserialize)]
struct RawFrame {
    event: Option<String>,
    channel: Option<String>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    detail: Value,
}

pub fn decode(text: &str) -> Result<Frame, DecodeError> {
    let raw: RawFrame =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let event = raw.event.ok_or(DecodeError::NoEvent)?;
    let channel = |event: &str| {
        raw.channel.clone().ok_or_else(|| DecodeError::NoChannel {
            event: event.to_string(),
        })
    };
    match event.as_str() {
        "channel_subscribed" => Ok(Frame::Subscribed {
            channel: channel(&event)?,
        }),
        "subscribe_failed" => Ok(Frame::SubscribeFailed {
            channel: channel(&event)?,
            detail: match raw.detail {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            },
        }),
        "data" => {
            let channel = channel(&event)?;
            let data = match raw.data {
                Value::String(text) => {
                    serde_json::from_str(&text).map_err(|e| DecodeError::BadData {
                        channel: channel.clone(),
                        reason: e.to_string(),
                    })?
                }
                other => other,
            };
            Ok(Frame::Data { channel, data })
        }
        _ => Ok(Frame::Other { event }),
    }
}

/// The subscribe request for one channel.
pub fn subscribe(channel: &str) -> String {
    serde_json::json!({ "subscribe": channel }).to_string()
}

/// `/sites/{site_id}/stats/devices`, the channel mesa subscribes per site.
pub fn site_stats_channel(site_id: &str) -> String {
    format!("/sites/{site_id}/stats/devices")
}

/// The site of a `/sites/{site_id}/...` channel.
pub fn channel_site(channel: &str) -> Option<&str> {
    let rest = channel.strip_prefix("/sites/")?;
    let (site, _) = rest.split_once('/')?;
    (!site.is_empty()).then_some(site)
}

/// The switch port an AP reported by LLDP, as far as it is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LldpSeen {
    pub system_name: String,
    /// `chassis_id`, when it is a MAC (Junos sends the switch's base MAC).
    pub chassis_mac: Option<Mac>,
    pub port: Result<InterfaceName, String>,
}

/// What one stats message said about one AP.
#[derive(Debug, Clone, PartialEq)]
pub struct ApReport {
    pub mac: Mac,
    pub site_id: String,
    pub name: Option<String>,
    /// Epoch seconds, Mist's clock.
    pub last_seen: Option<f64>,
    pub lldp: Option<LldpSeen>,
}

/// Why a data message gave no AP report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// A switch, gateway, ... (`type` present and not `ap`).
    NotAp,
    /// No (valid) `mac`.
    NoMac,
    /// Not a device-stats channel.
    OtherChannel,
}

impl Skipped {
    pub fn label(self) -> &'static str {
        match self {
            Skipped::NotAp => "not-ap",
            Skipped::NoMac => "no-mac",
            Skipped::OtherChannel => "other-channel",
        }
    }
}

#[derive(Deserialize)]
struct StatsWire {
    #[serde(default)]
    mac: Option<String>,
    #[serde(default, rename = "type")]
    device_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    last_seen: Option<f64>,
    #[serde(default)]
    lldp_stat: Option<ApLldpStat>,
}

/// The AP in a device-stats data message of `channel`, if it is one.
pub fn ap_report(channel: &str, data: &Value) -> Result<ApReport, Skipped> {
    let site_id = channel_site(channel)
        .filter(|_| channel.ends_with("/stats/devices"))
        .ok_or(Skipped::OtherChannel)?;
    let wire: StatsWire = serde_json::from_value(data.clone()).map_err(|_| Skipped::NoMac)?;
    if wire.device_type.as_deref().is_some_and(|t| t != "ap") {
        return Err(Skipped::NotAp);
    }
    let mac = wire
        .mac
        .as_deref()
        .and_then(|m| Mac::parse(m).ok())
        .ok_or(Skipped::NoMac)?;
    let lldp = wire.lldp_stat.and_then(|l| {
        let system_name = l.system_name.as_deref().unwrap_or("").trim().to_string();
        let has_port = [&l.port_id, &l.port_desc]
            .iter()
            .any(|p| p.as_deref().is_some_and(|p| !p.trim().is_empty()));
        if system_name.is_empty() || !has_port {
            return None;
        }
        Some(LldpSeen {
            port: interface_from_lldp(l.port_id.as_deref(), l.port_desc.as_deref()),
            chassis_mac: l.chassis_id.as_deref().and_then(|c| Mac::parse(c).ok()),
            system_name,
        })
    });
    Ok(ApReport {
        mac,
        site_id: site_id.to_string(),
        name: wire.name.filter(|n| !n.is_empty()),
        last_seen: wire.last_seen.filter(|t| t.is_finite()),
        lldp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

    #[test]
    fn data_as_string_or_object() {
        let inner = r#"{"mac":"5c5b35000001","last_seen":1700000000.5}"#;
        let as_string = serde_json::json!({
            "event": "data", "channel": site_stats_channel(SITE), "data": inner
        })
        .to_string();
        let as_object =
            format!(r#"{{"event":"data","channel":"/sites/{SITE}/devices","data":{inner}}}"#);
        for text in [as_string, as_object] {
            let Ok(Frame::Data { data, .. }) = decode(&text) else {
                panic!("not data: {text}");
            };
            assert_eq!(data["mac"], "5c5b35000001");
        }
    }

    #[test]
    fn subscription_answers_and_junk() {
        assert_eq!(
            decode(r#"{"event":"channel_subscribed","channel":"/sites/s/stats/devices"}"#),
            Ok(Frame::Subscribed {
                channel: "/sites/s/stats/devices".into()
            })
        );
        assert_eq!(
            decode(r#"{"event":"subscribe_failed","channel":"/x","detail":"no access"}"#),
            Ok(Frame::SubscribeFailed {
                channel: "/x".into(),
                detail: "no access".into()
            })
        );
        assert!(matches!(decode("{"), Err(DecodeError::NotJson(_))));
        assert_eq!(decode(r#"{"channel":"/x"}"#), Err(DecodeError::NoEvent));
        assert!(matches!(
            decode(r#"{"event":"data","channel":"/x","data":"{oops"}"#),
            Err(DecodeError::BadData { .. })
        ));
        assert_eq!(
            decode(r#"{"event":"pong"}"#),
            Ok(Frame::Other {
                event: "pong".into()
            })
        );
    }

    #[test]
    fn full_partial_and_foreign_reports() {
        let channel = site_stats_channel(SITE);
        // Shaped like `stats_ap` (no site_id on the stream) with `stats_ap_lldp_stat`.
        let full = serde_json::json!({
            "mac": "5c5b35000001", "model": "AP43", "type": "ap", "name": "ap-1",
            "last_seen": 1700000000.0, "uptime": 300,
            "lldp_stat": {"system_name": "sw1", "port_id": "526", "port_desc": "ge-0/0/12.0",
                           "chassis_id": "d4:20:b0:00:00:01", "mgmt_addr": "10.0.0.11"}
        });
        let report = ap_report(&channel, &full).unwrap();
        assert_eq!(report.site_id, SITE);
        let lldp = report.lldp.unwrap();
        assert_eq!(lldp.port.map(String::from), Ok("ge-0/0/12".into()));
        assert_eq!(
            lldp.chassis_mac.map(String::from),
            Some("d420b0000001".into())
        );

        let partial = serde_json::json!({"mac": "5c5b35000001", "last_seen": 1700000001.0});
        let report = ap_report(&channel, &partial).unwrap();
        assert_eq!(report.lldp, None);

        let switch = serde_json::json!({"mac": "d420b0000001", "type": "switch"});
        assert_eq!(ap_report(&channel, &switch), Err(Skipped::NotAp));
        let no_mac = serde_json::json!({"type": "ap"});
        assert_eq!(ap_report(&channel, &no_mac), Err(Skipped::NoMac));
        assert_eq!(
            ap_report(&format!("/sites/{SITE}/devices"), &full),
            Err(Skipped::OtherChannel)
        );
        let bad_port = serde_json::json!({"mac": "5c5b35000001",
            "lldp_stat": {"system_name": "sw1", "port_id": "ge-0/0/1; delete"}});
        let lldp = ap_report(&channel, &bad_port).unwrap().lldp.unwrap();
        assert!(lldp.port.is_err());
    }
}
