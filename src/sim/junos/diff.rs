//! Curly-brace rendering of a configuration and the Junos-style text diff (`show | compare`)
//! between two configurations.
//!
//! Statements become a tree. Without a schema, a few keywords ([`NAMED`]) take the next token
//! as their name (`unit 0` is one node, as Junos shows it); a node whose only child is a leaf
//! prints as `keyword value;`, and a node in [`LEAF_LISTS`] with several leaf children as
//! `members [ a b ];`. The diff prints a `[edit ...]` header for the deepest hierarchy that
//! exists on both sides, then `+ `/`- ` lines:
//!
//! ```text
//! [edit interfaces ge-0/0/12 unit 0 family ethernet-switching]
//! -      interface-mode access;
//! +      interface-mode trunk;
//! ```

use super::config::{quote, Config};

/// Keywords that form one node with the token after them (`unit 0`, `interface ge-0/0/1`).
pub const NAMED: &[&str] = &[
    "community",
    "contents",
    "file",
    "filter",
    "group",
    "interface",
    "neighbor",
    "policy-statement",
    "prefix-list",
    "route",
    "server",
    "term",
    "unit",
    "user",
];

/// Keywords whose leaf children print as one bracketed list.
pub const LEAF_LISTS: &[&str] = &["members", "authentication-order", "interface-range"];

#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(String, Node)>,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, n)| n)
    }

    fn insert(&mut self, keys: &[String]) {
        let Some((first, rest)) = keys.split_first() else {
            return;
        };
        let idx = match self.children.iter().position(|(k, _)| k == first) {
            Some(i) => i,
            None => {
                self.children.push((first.clone(), Node::default()));
                self.children.len() - 1
            }
        };
        self.children[idx].1.insert(rest);
    }

    fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// Prints on one line (`key;`, `key value;`, `key [ a b ];`).
    fn is_inline(&self, key: &str) -> bool {
        if self.is_leaf() {
            return true;
        }
        let leaves = self.children.iter().all(|(_, c)| c.is_leaf());
        leaves && (self.children.len() == 1 || LEAF_LISTS.contains(&key))
    }

    /// Same content, whatever the order.
    fn same(&self, other: &Node) -> bool {
        self.children.len() == other.children.len()
            && self
                .children
                .iter()
                .all(|(k, c)| other.get(k).is_some_and(|o| c.same(o)))
    }
}

/// Groups a statement's tokens into node keys, quoting tokens as Junos displays them.
fn keys_of(statement: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut i = 0;
    while i < statement.len() {
        let tok = quote(&statement[i]);
        if NAMED.contains(&statement[i].as_str()) && i + 1 < statement.len() {
            keys.push(format!("{tok} {}", quote(&statement[i + 1])));
            i += 2;
        } else {
            keys.push(tok);
            i += 1;
        }
    }
    keys
}

fn tree(config: &Config) -> Node {
    let mut root = Node::default();
    for st in config.statements() {
        root.insert(&keys_of(st));
    }
    root
}

fn render(key: &str, node: &Node, depth: usize, out: &mut Vec<String>) {
    let pad = "    ".repeat(depth);
    if node.is_leaf() {
        out.push(format!("{pad}{key};"));
    } else if node.is_inline(key) {
        let values: Vec<&str> = node.children.iter().map(|(k, _)| k.as_str()).collect();
        if values.len() == 1 {
            out.push(format!("{pad}{key} {};", values[0]));
        } else {
            out.push(format!("{pad}{key} [ {} ];", values.join(" ")));
        }
    } else {
        out.push(format!("{pad}{key} {{"));
        for (k, child) in &node.children {
            render(k, child, depth + 1, out);
        }
        out.push(format!("{pad}}}"));
    }
}

/// The configuration in Junos curly-brace text format.
pub fn to_text(config: &Config) -> String {
    let mut lines = Vec::new();
    for (k, child) in &tree(config).children {
        render(k, child, 0, &mut lines);
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

struct Diff {
    out: Vec<String>,
    header: Option<String>,
}

impl Diff {
    fn emit(&mut self, path: &[String], sign: char, key: &str, node: &Node) {
        let header = if path.is_empty() {
            "[edit]".to_string()
        } else {
            format!("[edit {}]", path.join(" "))
        };
        if self.header.as_deref() != Some(header.as_str()) {
            self.out.push(header.clone());
            self.header = Some(header);
        }
        let mut lines = Vec::new();
        render(key, node, 0, &mut lines);
        for line in lines {
            self.out.push(format!("{sign}   {line}"));
        }
    }

    fn walk(&mut self, old: &Node, new: &Node, path: &mut Vec<String>) {
        let mut keys: Vec<&str> = old.children.iter().map(|(k, _)| k.as_str()).collect();
        for (k, _) in &new.children {
            if old.get(k).is_none() {
                keys.push(k);
            }
        }
        for key in keys {
            match (old.get(key), new.get(key)) {
                (Some(o), None) => self.emit(path, '-', key, o),
                (None, Some(n)) => self.emit(path, '+', key, n),
                (Some(o), Some(n)) if o.same(n) => {}
                (Some(o), Some(n)) => {
                    if o.is_inline(key) || n.is_inline(key) {
                        self.emit(path, '-', key, o);
                        self.emit(path, '+', key, n);
                    } else {
                        path.push(key.to_string());
                        self.walk(o, n, path);
                        path.pop();
                    }
                }
                (None, None) => {}
            }
        }
    }
}

/// The text diff from `old` to `new`; empty when they hold the same statements.
pub fn compare(old: &Config, new: &Config) -> String {
    let mut diff = Diff {
        out: Vec::new(),
        header: None,
    };
    diff.walk(&tree(old), &tree(new), &mut Vec::new());
    let mut text = diff.out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::from_set_text(text).unwrap()
    }

    const PORT: &str = "set interfaces ge-0/0/12 description \"secured port\"\n\
        set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode access\n\
        set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members corp\n\
        set vlans corp vlan-id 10\n";

    #[test]
    fn text_format() {
        assert_eq!(
            to_text(&cfg(PORT)),
            "interfaces {\n    ge-0/0/12 {\n        description \"secured port\";\n        unit 0 {\n            family {\n                ethernet-switching {\n                    interface-mode access;\n                    vlan {\n                        members corp;\n                    }\n                }\n            }\n        }\n    }\n}\nvlans {\n    corp {\n        vlan-id 10;\n    }\n}\n"
        );
    }

    #[test]
    fn leaf_change_under_deepest_common_hierarchy() {
        let old = cfg(PORT);
        let mut new = old.clone();
        new.load_set_text(
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk\n\
             set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members [ ap-data ap-mgmt ]\n\
             delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members corp\n\
             delete interfaces ge-0/0/12 description\n\
             set vlans ap-data vlan-id 20",
            None,
        );
        assert_eq!(
            compare(&old, &new),
            "[edit interfaces ge-0/0/12]\n\
             -   description \"secured port\";\n\
             [edit interfaces ge-0/0/12 unit 0 family ethernet-switching]\n\
             -   interface-mode access;\n\
             +   interface-mode trunk;\n\
             [edit interfaces ge-0/0/12 unit 0 family ethernet-switching vlan]\n\
             -   members corp;\n\
             +   members [ ap-data ap-mgmt ];\n\
             [edit vlans]\n\
             +   ap-data {\n\
             +       vlan-id 20;\n\
             +   }\n"
        );
    }

    #[test]
    fn equal_configs_in_any_order_have_no_diff() {
        let a = cfg("set vlans a vlan-id 1\nset vlans b vlan-id 2");
        let b = cfg("set vlans b vlan-id 2\nset vlans a vlan-id 1");
        assert_eq!(compare(&a, &b), "");
        assert_eq!(compare(&Config::new(), &Config::new()), "");
    }

    #[test]
    fn whole_new_hierarchy_at_top() {
        let diff = compare(&Config::new(), &cfg("set system host-name sw1"));
        assert_eq!(
            diff,
            "[edit]\n+   system {\n+       host-name sw1;\n+   }\n"
        );
    }
}
