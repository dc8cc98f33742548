//! Boot configurations for the simulated switch, as real EX switches come: the factory
//! default of an EX2300/EX3400/EX4300 (every port in the default VLAN with `storm-control
//! default` under `unit 0 family ethernet-switching`), optionally with 802.1X already on the
//! ports in one of the spellings Junos accepts (`ge-0/0/7`, `ge-0/0/7.0`, `all`).

/// How `protocols dot1x authenticator interface` names the ports in the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dot1xSeed {
    /// No 802.1X (the factory default).
    None,
    /// Every port, even ports by their bare name (`ge-0/0/6`), odd ports with the unit
    /// (`ge-0/0/7.0`): both spellings on one switch.
    Mixed,
    /// One stanza for every port: `interface all`.
    All,
}

/// `set` lines of a factory-default EX with `ports` access ports (`ge-0/0/0` onwards).
pub fn factory_default(host_name: &str, ports: u32, dot1x: Dot1xSeed) -> String {
    let mut out = format!(
        "set system host-name {host_name}\n\
         set system services netconf ssh\n\
         set forwarding-options storm-control-profiles default all\n\
         set protocols lldp interface all\n\
         set protocols lldp-med interface all\n\
         set protocols rstp interface all\n\
         set vlans default vlan-id 1\n"
    );
    for i in 0..ports {
        out.push_str(&format!(
            "set interfaces ge-0/0/{i} unit 0 family ethernet-switching storm-control default\n"
        ));
    }
    let stanza = |name: &str| {
        format!(
            "set protocols dot1x authenticator interface {name} supplicant multiple\n\
             set protocols dot1x authenticator interface {name} mac-radius restrict\n"
        )
    };
    match dot1x {
        Dot1xSeed::None => {}
        Dot1xSeed::All => out.push_str(&stanza("all")),
        Dot1xSeed::Mixed => {
            for i in 0..ports {
                let name = if i % 2 == 0 {
                    format!("ge-0/0/{i}")
                } else {
                    format!("ge-0/0/{i}.0")
                };
                out.push_str(&stanza(&name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::junos::Config;

    #[test]
    fn seeds_parse_and_name_ports_both_ways() {
        let c = Config::from_set_text(&factory_default("sw", 4, Dot1xSeed::Mixed)).unwrap();
        let lines = c.set_lines();
        assert!(lines.contains(
            &"set interfaces ge-0/0/3 unit 0 family ethernet-switching storm-control default"
                .to_string()
        ));
        assert!(lines.contains(
            &"set protocols dot1x authenticator interface ge-0/0/2 supplicant multiple".to_string()
        ));
        assert!(lines.contains(
            &"set protocols dot1x authenticator interface ge-0/0/3.0 supplicant multiple"
                .to_string()
        ));
        let all = factory_default("sw", 2, Dot1xSeed::All);
        assert!(all.contains("dot1x authenticator interface all mac-radius restrict"));
        assert!(!factory_default("sw", 2, Dot1xSeed::None).contains("dot1x"));
    }
}
