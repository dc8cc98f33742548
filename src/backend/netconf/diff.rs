//! A Junos `show | compare` diff split per port, so each port's decision shows its own lines:
//! hunks whose `[edit …]` header names a port belong to it; otherwise each top-level block of
//! a hunk goes to the ports it names; what names no port is shown with every changed port.

use std::collections::HashSet;

use crate::backend::PortResult;
use crate::model::InterfaceName;

/// Splits a `show | compare` diff into per-port results, in plan order. Hunks naming a port
/// in their `[edit …]` header belong to it; otherwise each top-level block of the hunk goes to
/// the ports it names. Hunks naming no port are shown with every changed port.
pub fn port_results(diff: &str, ports: &[InterfaceName]) -> Vec<PortResult> {
    let (per_port, loose) = split_diff(diff, ports);
    let nothing_attributed = per_port.iter().all(String::is_empty);
    ports
        .iter()
        .zip(per_port)
        .map(|(port, own)| {
            let diff = if nothing_attributed {
                diff.trim_end().to_string()
            } else if own.is_empty() {
                String::new()
            } else {
                format!("{own}{loose}").trim_end().to_string()
            };
            PortResult {
                port: port.clone(),
                changed: !diff.is_empty(),
                diff,
            }
        })
        .collect()
}

/// Returns (diff text per port, in `ports` order; text not attributed to any port).
pub fn split_diff(diff: &str, ports: &[InterfaceName]) -> (Vec<String>, String) {
    let mut per_port = vec![String::new(); ports.len()];
    let mut loose = String::new();
    for (header, body) in hunks(diff) {
        let named = named_ports(std::iter::once(header), ports);
        if !named.is_empty() {
            for i in named {
                push_hunk(&mut per_port[i], header, &body);
            }
            continue;
        }
        for block in blocks(&body) {
            let named = named_ports(block.iter().copied(), ports);
            if named.is_empty() {
                push_hunk(&mut loose, header, &block);
            }
            for i in named {
                push_hunk(&mut per_port[i], header, &block);
            }
        }
    }
    (per_port, loose)
}

fn push_hunk(out: &mut String, header: &str, body: &[&str]) {
    if body.is_empty() && header.is_empty() {
        return;
    }
    if !header.is_empty() {
        out.push_str(header);
        out.push('\n');
    }
    for line in body {
        out.push_str(line);
        out.push('\n');
    }
}

fn hunks(diff: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in diff.lines() {
        if line.trim_start().starts_with("[edit") {
            out.push((line.trim(), Vec::new()));
        } else if line.trim().is_empty() {
            continue;
        } else {
            match out.last_mut() {
                Some((_, body)) => body.push(line),
                None => out.push(("", vec![line])),
            }
        }
    }
    out
}

/// Groups a hunk body into top-level statements (least indented after the +/- marker).
fn blocks<'a>(body: &[&'a str]) -> Vec<Vec<&'a str>> {
    let indent = |l: &str| {
        let rest = l.strip_prefix(['+', '-', '!', ' ']).unwrap_or(l);
        rest.len() - rest.trim_start().len()
    };
    let top = body.iter().map(|l| indent(l)).min().unwrap_or(0);
    let mut out: Vec<Vec<&str>> = Vec::new();
    for line in body {
        let rest = line
            .strip_prefix(['+', '-', '!', ' '])
            .unwrap_or(line)
            .trim_start();
        let closes = rest.starts_with('}');
        if (indent(line) == top && !closes) || out.is_empty() {
            out.push(vec![line]);
        } else if let Some(last) = out.last_mut() {
            last.push(line);
        }
    }
    out
}

fn named_ports<'a>(lines: impl Iterator<Item = &'a str>, ports: &[InterfaceName]) -> Vec<usize> {
    let tokens: HashSet<&str> = lines
        .flat_map(str::split_whitespace)
        .map(|t| {
            t.trim_matches(|c: char| {
                matches!(c, '[' | ']' | '{' | '}' | ';' | '"' | '+' | '-' | '!')
            })
        })
        .collect();
    ports
        .iter()
        .enumerate()
        .filter(|(_, p)| tokens.contains(p.as_str()))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(p: &str) -> InterfaceName {
        InterfaceName::parse(p).unwrap()
    }

    const DIFF: &str = "\
[edit interfaces ge-0/0/12 unit 0 family ethernet-switching]
-       interface-mode access;
+       interface-mode trunk;
+       vlan {
+           members [ 1 10 20 ];
+       }
[edit interfaces ge-0/0/12]
+   native-vlan-id 1;
[edit interfaces]
+   ge-0/0/1 {
+       description \"AP ap-02\";
+   }
[edit protocols dot1x authenticator]
-    interface ge-0/0/12 {
-        supplicant multiple;
-    }
-    interface ge-0/0/1 {
-        supplicant multiple;
-    }
[edit vlans]
+   ap-mgmt {
+       vlan-id 10;
+   }
";

    #[test]
    fn diff_is_split_per_port() {
        let ports = [port("ge-0/0/12"), port("ge-0/0/1"), port("ge-0/0/2")];
        let (per_port, loose) = split_diff(DIFF, &ports);
        assert_eq!(
            per_port[0],
            "[edit interfaces ge-0/0/12 unit 0 family ethernet-switching]\n-       interface-mode access;\n+       interface-mode trunk;\n+       vlan {\n+           members [ 1 10 20 ];\n+       }\n\
             [edit interfaces ge-0/0/12]\n+   native-vlan-id 1;\n\
             [edit protocols dot1x authenticator]\n-    interface ge-0/0/12 {\n-        supplicant multiple;\n-    }\n"
        );
        // ge-0/0/1 is not mistaken for a prefix of ge-0/0/12.
        assert_eq!(
            per_port[1],
            "[edit interfaces]\n+   ge-0/0/1 {\n+       description \"AP ap-02\";\n+   }\n\
             [edit protocols dot1x authenticator]\n-    interface ge-0/0/1 {\n-        supplicant multiple;\n-    }\n"
        );
        assert_eq!(per_port[2], "");
        assert_eq!(
            loose,
            "[edit vlans]\n+   ap-mgmt {\n+       vlan-id 10;\n+   }\n"
        );

        let results = port_results(DIFF, &ports);
        assert!(results[0].changed && results[1].changed && !results[2].changed);
        assert!(
            results[0].diff.ends_with("vlan-id 10;\n+   }"),
            "loose hunks are shown with changed ports"
        );
        assert_eq!(results[2].diff, "");
    }

    #[test]
    fn unattributed_diff_goes_to_every_port() {
        let ports = [port("ge-0/0/5")];
        let results = port_results("[edit vlans]\n+   guest { vlan-id 99; }\n", &ports);
        assert!(results[0].changed);
        assert!(results[0].diff.contains("guest"));
        assert!(!port_results("\n  \n", &ports)[0].changed);
    }
}
