//! What a port has now, read from the switch at the start of a batch (inside the lock), so
//! that the templates delete exactly the statements mesa owns and keep the rest: the
//! factory-default `storm-control default`, an operator's `filter input`, `recovery-timeout`,
//! a description mesa did not write.
//!
//! One `get-configuration` reads every port of the batch (`interfaces <port>`) and the whole
//! `protocols dot1x authenticator` (a port may be named `ge-0/0/7` or `ge-0/0/7.0` there,
//! or be covered by `interface all`). The templates receive the result as `current`.

use serde::Serialize;

use crate::model::InterfaceName;

use super::config_text::flatten_config;
use super::rpc::escape;

/// The parts of one port's configuration that mesa's templates decide on. `known` is false
/// when the switch was not read (previews, `check-config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortConfig {
    pub port: String,
    pub known: bool,
    /// `interfaces <port> description`.
    pub description: Option<String>,
    /// `interfaces <port> native-vlan-id`.
    pub native_vlan_id: Option<String>,
    /// `interfaces <port> unit 0 family ethernet-switching interface-mode`.
    pub interface_mode: Option<String>,
    /// `... family ethernet-switching vlan members`, in order.
    pub vlan_members: Vec<String>,
    /// The names this port has under `protocols dot1x authenticator interface`, the unit
    /// spelling (`ge-0/0/7.0`) first.
    pub dot1x: Vec<String>,
    /// `mac-radius` is set in the first of those stanzas.
    pub dot1x_mac_radius: bool,
    /// `protocols dot1x authenticator interface all` exists: 802.1X covers every port.
    pub dot1x_all: bool,
    /// Most ports under `dot1x authenticator interface` are named with their unit
    /// (`ge-0/0/7.0`): a new stanza follows the switch's habit.
    pub dot1x_unit_names: bool,
}

impl PortConfig {
    /// A port mesa has not read: the templates then delete the bare dot1x name only, as
    /// before the port was read.
    pub fn unknown(port: &InterfaceName) -> PortConfig {
        PortConfig {
            port: port.as_str().to_string(),
            dot1x: vec![port.as_str().to_string()],
            ..PortConfig::default()
        }
    }

    /// The port as found in a configuration text (`format="text"`) holding its interface
    /// and the dot1x authenticator.
    pub fn from_text(text: &str, port: &InterfaceName) -> PortConfig {
        let paths = flatten_config(text);
        let name = port.as_str();
        let unit = format!("{name}.0");
        let family = [
            "interfaces",
            name,
            "unit",
            "0",
            "family",
            "ethernet-switching",
        ];
        let in_family = |rest: &[&'static str]| -> Vec<&str> { [&family[..], rest].concat() };
        let dot1x: Vec<String> = [unit.as_str(), name]
            .into_iter()
            .filter(|n| {
                has(
                    &paths,
                    &["protocols", "dot1x", "authenticator", "interface", n],
                )
            })
            .map(str::to_string)
            .collect();
        let dot1x_mac_radius = dot1x.first().is_some_and(|first| {
            has(
                &paths,
                &[
                    "protocols",
                    "dot1x",
                    "authenticator",
                    "interface",
                    first,
                    "mac-radius",
                ],
            )
        });
        PortConfig {
            port: name.to_string(),
            known: true,
            description: values(&paths, &["interfaces", name, "description"]).pop(),
            native_vlan_id: values(&paths, &["interfaces", name, "native-vlan-id"]).pop(),
            interface_mode: values(&paths, &in_family(&["interface-mode"])).pop(),
            vlan_members: values(&paths, &in_family(&["vlan", "members"])),
            dot1x,
            dot1x_mac_radius,
            dot1x_all: has(
                &paths,
                &["protocols", "dot1x", "authenticator", "interface", "all"],
            ),
            dot1x_unit_names: unit_names_prevail(&paths),
        }
    }
}

/// More stanzas under `dot1x authenticator interface` are named `<port>.<unit>` than not.
fn unit_names_prevail(paths: &[Vec<String>]) -> bool {
    let mut names: Vec<&str> = paths
        .iter()
        .filter(|p| {
            p.len() >= 5 && starts_with(p, &["protocols", "dot1x", "authenticator", "interface"])
        })
        .map(|p| p[4].as_str())
        .filter(|n| *n != "all")
        .collect();
    names.dedup();
    let units = names.iter().filter(|n| n.contains('.')).count();
    units * 2 > names.len()
}

fn starts_with(path: &[String], prefix: &[&str]) -> bool {
    path.len() >= prefix.len() && path.iter().zip(prefix).all(|(a, b)| a == b)
}

/// A statement at or under `prefix` exists.
fn has(paths: &[Vec<String>], prefix: &[&str]) -> bool {
    paths.iter().any(|p| starts_with(p, prefix))
}

/// The values of the leaf `prefix` (one for a leaf, several for a leaf-list), in order.
fn values(paths: &[Vec<String>], prefix: &[&str]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| p.len() == prefix.len() + 1 && starts_with(p, prefix))
        .map(|p| p[prefix.len()].clone())
        .collect()
}

/// The `<configuration>` filter reading `ports` and the dot1x authenticator.
pub fn filter_xml(ports: &[InterfaceName]) -> String {
    let interfaces: String = ports
        .iter()
        .map(|p| format!("<interface><name>{}</name></interface>", escape(p.as_str())))
        .collect();
    format!(
        "<configuration><interfaces>{interfaces}</interfaces>\
         <protocols><dot1x><authenticator/></dot1x></protocols></configuration>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
interfaces {
    ge-0/0/7 {
        description "patch 3B-12";
        native-vlan-id 1;
        unit 0 {
            family ethernet-switching {
                interface-mode trunk;
                vlan {
                    members [ 1 10 20 ];
                }
                storm-control default;
                filter {
                    input guest-acl;
                }
            }
        }
    }
}
protocols {
    dot1x {
        authenticator {
            interface {
                ge-0/0/7 {
                    supplicant multiple;
                }
                ge-0/0/7.0 {
                    supplicant multiple;
                    mac-radius {
                        restrict;
                    }
                }
                ge-0/0/8 {
                    mac-radius;
                }
            }
        }
    }
}
"#;

    fn port(p: &str) -> InterfaceName {
        InterfaceName::parse(p).unwrap()
    }

    #[test]
    fn reads_what_mesa_owns_and_both_dot1x_spellings() {
        let c = PortConfig::from_text(TEXT, &port("ge-0/0/7"));
        assert!(c.known);
        assert_eq!(c.description.as_deref(), Some("patch 3B-12"));
        assert_eq!(c.native_vlan_id.as_deref(), Some("1"));
        assert_eq!(c.interface_mode.as_deref(), Some("trunk"));
        assert_eq!(c.vlan_members, ["1", "10", "20"]);
        assert_eq!(c.dot1x, ["ge-0/0/7.0", "ge-0/0/7"], "unit spelling first");
        assert!(c.dot1x_mac_radius);
        assert!(!c.dot1x_all);

        assert!(!c.dot1x_unit_names, "one `.0` name of three");
        let units = "protocols { dot1x { authenticator { interface { ge-0/0/1.0; ge-0/0/2.0; ge-0/0/3; } } } }";
        assert!(PortConfig::from_text(units, &port("ge-0/0/9")).dot1x_unit_names);

        let c8 = PortConfig::from_text(TEXT, &port("ge-0/0/8"));
        assert_eq!(c8.dot1x, ["ge-0/0/8"]);
        assert!(c8.dot1x_mac_radius, "a bare `mac-radius;` counts");
        assert_eq!(c8.description, None);
        assert!(c8.vlan_members.is_empty());

        let all =
            "protocols { dot1x { authenticator { interface { all { supplicant multiple; } } } } }";
        let c = PortConfig::from_text(all, &port("ge-0/0/1"));
        assert!(c.dot1x_all && c.dot1x.is_empty());
    }

    #[test]
    fn filter_names_every_port_and_the_authenticator() {
        assert_eq!(
            filter_xml(&[port("ge-0/0/1"), port("ge-0/0/2")]),
            "<configuration><interfaces><interface><name>ge-0/0/1</name></interface>\
             <interface><name>ge-0/0/2</name></interface></interfaces>\
             <protocols><dot1x><authenticator/></dot1x></protocols></configuration>"
        );
    }
}
