//! Port guards: protected ports are never touched (uplinks, LAGs), and only ports mesa
//! itself made AP ports are reverted, so a hand-configured trunk is never turned into an
//! 802.1X port because some AP happened to disconnect from it.

use serde_json::json;

use crate::model::{GuardVerdict, InterfaceName, Mac, Profile};
use crate::store::PortRecord;

pub const PROTECTED: &str = "protected-port";
pub const MANAGED: &str = "managed-only";

/// Compiled `guards.protected_ports` globs (validated with the configuration).
pub struct ProtectedPorts {
    patterns: Vec<glob::Pattern>,
}

impl ProtectedPorts {
    pub fn new(patterns: &[String]) -> ProtectedPorts {
        ProtectedPorts {
            patterns: patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
        }
    }

    pub fn check(&self, port: &InterfaceName) -> GuardVerdict {
        match self.patterns.iter().find(|p| p.matches(port.as_str())) {
            Some(pattern) => GuardVerdict::hold(
                PROTECTED,
                format!("{port} matches protected pattern {:?}", pattern.as_str()),
            ),
            None => GuardVerdict::proceed(PROTECTED, format!("{port} is not protected")),
        }
    }
}

/// May mesa revert this port for this AP?
pub fn check_managed(record: Option<&PortRecord>, ap: &Mac, only_managed: bool) -> GuardVerdict {
    let Some(record) = record else {
        return if only_managed {
            GuardVerdict::hold(
                MANAGED,
                "mesa never configured this port (guards.only_revert_managed)",
            )
        } else {
            GuardVerdict::proceed(MANAGED, "unknown port; only_revert_managed is off")
        };
    };
    let numbers = json!({
        "profile": record.profile.as_str(),
        "managed": record.managed,
        "ap": record.ap_mac.as_ref().map(|m| m.to_string()),
        "since": record.since.to_rfc3339(),
    });
    if record.profile == Profile::Secured {
        return GuardVerdict::hold(MANAGED, "port already has the secured profile")
            .with_numbers(numbers);
    }
    if let Some(owner) = &record.ap_mac {
        if owner != ap {
            return GuardVerdict::hold(MANAGED, format!("port now serves another AP ({owner})"))
                .with_numbers(numbers);
        }
    }
    if only_managed && !record.managed {
        return GuardVerdict::hold(MANAGED, "port not managed by mesa").with_numbers(numbers);
    }
    GuardVerdict::proceed(MANAGED, "mesa made this an AP port").with_numbers(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let guard = ProtectedPorts::new(&["ae*".into(), "et-*".into(), "ge-0/0/4[0-7]".into()]);
        let port = |p: &str| InterfaceName::parse(p).unwrap();
        assert!(!guard.check(&port("ae-0/0/1")).proceed);
        assert!(!guard.check(&port("et-0/1/0")).proceed);
        assert!(!guard.check(&port("ge-0/0/47")).proceed);
        assert!(guard.check(&port("ge-0/0/12")).proceed);
    }
}
