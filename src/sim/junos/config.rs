//! The configuration model: a configuration is an ordered set of statements, each the token
//! path of one `set` line (`interfaces ge-0/0/12 unit 0 family ethernet-switching
//! interface-mode trunk`), kept in the order they were first added, as Junos keeps user order.
//!
//! There is no YANG schema here, so three small rules stand in for it:
//! - a statement implies its prefixes (`set interfaces ge-0/0/1` adds nothing once
//!   `set interfaces ge-0/0/1 disable` exists, and is absorbed by it otherwise);
//! - keywords in [`SINGLE_VALUED`] hold one value: setting `description "b"` replaces
//!   `description "a"` instead of adding a second one;
//! - only the top-level hierarchies in [`TOP_LEVEL`] exist; anything else is a syntax error.
//!
//! Loading `set`-format text applies each line on its own, as Junos does: a bad line is
//! reported and skipped, the good lines around it still change the candidate.

use serde::{Deserialize, Serialize};

/// One statement: the tokens after `set`, unquoted.
pub type Statement = Vec<String>;

/// The top-level hierarchies of a Junos EX configuration that the simulator accepts.
pub const TOP_LEVEL: &[&str] = &[
    "access",
    "applications",
    "apply-groups",
    "chassis",
    "class-of-service",
    "ethernet-switching-options",
    "event-options",
    "firewall",
    "forwarding-options",
    "groups",
    "interfaces",
    "multi-chassis",
    "poe",
    "policy-options",
    "protocols",
    "routing-instances",
    "routing-options",
    "security",
    "services",
    "snmp",
    "switch-options",
    "system",
    "version",
    "virtual-chassis",
    "vlans",
];

/// Keywords whose value replaces the previous one rather than adding to it.
pub const SINGLE_VALUED: &[&str] = &[
    "authentication-order",
    "description",
    "encapsulation",
    "host-name",
    "interface-mode",
    "mac-limit",
    "mtu",
    "native-vlan-id",
    "port-mode",
    "priority",
    "quiet-period",
    "recovery-timeout",
    "retries",
    "server-reject-vlan",
    "server-timeout",
    "speed",
    "storm-control",
    "supplicant",
    "transmit-period",
    "vlan-id",
];

/// A problem with one loaded line, reported in `<load-configuration-results>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadIssue {
    pub severity: Severity,
    pub message: String,
    pub bad_element: String,
    /// `[edit interfaces ge-0/0/12]` for warnings about a statement's position.
    pub edit_path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A configuration: running, candidate, or a rollback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct Config {
    statements: Vec<Statement>,
}

impl From<Config> for Vec<String> {
    fn from(c: Config) -> Vec<String> {
        c.set_lines()
    }
}

impl TryFrom<Vec<String>> for Config {
    type Error = String;
    fn try_from(lines: Vec<String>) -> Result<Config, String> {
        Config::from_set_text(&lines.join("\n"))
    }
}

/// What one line asks for.
enum Line {
    Set(Vec<Statement>),
    Delete(Statement),
    Nothing,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses a whole `set`/`delete` text; any error is fatal (for seeding and state files).
    pub fn from_set_text(text: &str) -> Result<Config, String> {
        let mut config = Config::new();
        let issues = config.load_set_text(text, None);
        match issues.iter().find(|i| i.severity == Severity::Error) {
            Some(e) => Err(format!("{}: {}", e.message, e.bad_element)),
            None => Ok(config),
        }
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The configuration as canonical `set` lines, one per statement.
    pub fn set_lines(&self) -> Vec<String> {
        self.statements.iter().map(|s| set_line(s)).collect()
    }

    /// `set_lines` joined with newlines, with a final newline unless empty.
    pub fn to_set_text(&self) -> String {
        let mut out = String::new();
        for line in self.set_lines() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Adds a statement (see the module doc for the rules).
    pub fn set(&mut self, st: Statement) {
        if st.is_empty() || self.statements.iter().any(|s| s.starts_with(&st)) {
            return;
        }
        if st.len() >= 2 && SINGLE_VALUED.contains(&st[st.len() - 2].as_str()) {
            let key = &st[..st.len() - 1];
            self.statements.retain(|s| !s.starts_with(key));
        }
        // Statements the new one extends are now implied by it; keep its position.
        let at = self
            .statements
            .iter()
            .position(|s| st.starts_with(s))
            .unwrap_or(self.statements.len());
        self.statements.retain(|s| !st.starts_with(s));
        let at = at.min(self.statements.len());
        self.statements.insert(at, st);
    }

    /// Removes the statement and everything under it; false when nothing matched.
    pub fn delete(&mut self, prefix: &[String]) -> bool {
        let before = self.statements.len();
        self.statements.retain(|s| !s.starts_with(prefix));
        self.statements.len() != before
    }

    /// The statements under `prefix` (all of them for an empty prefix).
    pub fn filter(&self, prefix: &[String]) -> Config {
        Config {
            statements: self
                .statements
                .iter()
                .filter(|s| s.starts_with(prefix) || prefix.starts_with(s))
                .map(|s| {
                    if s.starts_with(prefix) {
                        s.clone()
                    } else {
                        prefix.to_vec()
                    }
                })
                .collect(),
        }
    }

    /// The statements under any of `prefixes` (all of them when there is none), in order.
    pub fn filter_any(&self, prefixes: &[Vec<String>]) -> Config {
        if prefixes.is_empty() {
            return self.clone();
        }
        let mut out = Config::new();
        for st in &self.statements {
            for prefix in prefixes {
                if st.starts_with(prefix) {
                    out.statements.push(st.clone());
                    break;
                }
            }
        }
        out
    }

    /// Applies `set`-format text line by line. Returns the errors (lines skipped) and the
    /// warnings (lines applied). `reject` is the fault `(substring, message)`.
    pub fn load_set_text(&mut self, text: &str, reject: Option<(&str, &str)>) -> Vec<LoadIssue> {
        let mut issues = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if let Some((needle, message)) = reject {
                if !needle.is_empty() && line.contains(needle) {
                    issues.push(LoadIssue {
                        severity: Severity::Error,
                        message: message.to_string(),
                        bad_element: needle.to_string(),
                        edit_path: None,
                    });
                    continue;
                }
            }
            match parse_line(line) {
                Err(issue) => issues.push(issue),
                Ok(Line::Nothing) => {}
                Ok(Line::Set(statements)) => {
                    for st in statements {
                        self.set(st);
                    }
                }
                Ok(Line::Delete(prefix)) => {
                    if self.delete(&prefix) {
                        continue;
                    }
                    if let Some((last, parent)) = prefix.split_last() {
                        issues.push(LoadIssue {
                            severity: Severity::Warning,
                            message: "statement not found".to_string(),
                            bad_element: last.clone(),
                            edit_path: Some(edit_path(parent)),
                        });
                    }
                }
            }
        }
        issues
    }

    /// Statements in `self` but not in `base`, and in `base` but not in `self`.
    pub fn changes_from(&self, base: &Config) -> (usize, usize) {
        let added = self
            .statements
            .iter()
            .filter(|s| !base.statements.contains(s))
            .count();
        let removed = base
            .statements
            .iter()
            .filter(|s| !self.statements.contains(s))
            .count();
        (added, removed)
    }

    /// Same statements, whatever their order.
    pub fn same_as(&self, other: &Config) -> bool {
        self.changes_from(other) == (0, 0)
    }
}

/// `[edit a b c]`, or `[edit]` at the top.
pub fn edit_path(tokens: &[String]) -> String {
    if tokens.is_empty() {
        "[edit]".to_string()
    } else {
        let quoted: Vec<String> = tokens.iter().map(|t| quote(t)).collect();
        format!("[edit {}]", quoted.join(" "))
    }
}

/// The canonical `set` line of a statement.
pub fn set_line(st: &[String]) -> String {
    let quoted: Vec<String> = st.iter().map(|t| quote(t)).collect();
    format!("set {}", quoted.join(" "))
}

/// Quotes a token the way Junos displays it: only when it needs quotes.
pub fn quote(token: &str) -> String {
    let plain = !token.is_empty()
        && !token.chars().any(|c| {
            c.is_whitespace() || matches!(c, '"' | ';' | '{' | '}' | '[' | ']' | '#' | '\\')
        });
    if plain {
        token.to_string()
    } else {
        let escaped = token.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn syntax(bad: &str) -> LoadIssue {
    LoadIssue {
        severity: Severity::Error,
        message: "syntax error".to_string(),
        bad_element: bad.to_string(),
        edit_path: None,
    }
}

fn tokenize(line: &str) -> Result<Vec<Tok>, LoadIssue> {
    let mut toks = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '[' {
            chars.next();
            toks.push(Tok::Open);
        } else if c == ']' {
            chars.next();
            toks.push(Tok::Close);
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(n) => word.push(n),
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => word.push(c),
                }
            }
            if !closed {
                return Err(syntax(&format!("\"{word}")));
            }
            toks.push(Tok::Word(word));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '[' | ']' | '"') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            if word.contains(['{', '}', ';']) {
                return Err(syntax(&word));
            }
            toks.push(Tok::Word(word));
        }
    }
    Ok(toks)
}

fn parse_line(line: &str) -> Result<Line, LoadIssue> {
    if line.is_empty() || line.starts_with('#') {
        return Ok(Line::Nothing);
    }
    let toks = tokenize(line)?;
    let mut it = toks.into_iter();
    let verb = match it.next() {
        Some(Tok::Word(w)) => w,
        Some(Tok::Open) => return Err(syntax("[")),
        Some(Tok::Close) => return Err(syntax("]")),
        None => return Ok(Line::Nothing),
    };
    let mut path = Vec::new();
    let mut values: Option<Vec<String>> = None;
    let mut closed = false;
    for tok in it {
        match (tok, &mut values) {
            (_, _) if closed => return Err(syntax(line.rsplit(']').next().unwrap_or("]").trim())),
            (Tok::Word(w), None) => path.push(w),
            (Tok::Word(w), Some(v)) => v.push(w),
            (Tok::Open, None) => values = Some(Vec::new()),
            (Tok::Open, Some(_)) => return Err(syntax("[")),
            (Tok::Close, Some(_)) => closed = true,
            (Tok::Close, None) => return Err(syntax("]")),
        }
    }
    if values.is_some() && !closed {
        return Err(syntax("["));
    }
    match verb.as_str() {
        "set" | "delete" => {}
        other => return Err(syntax(other)),
    }
    let Some(top) = path.first() else {
        return Err(syntax(&verb));
    };
    if !TOP_LEVEL.contains(&top.as_str()) {
        return Err(syntax(top));
    }
    if verb == "delete" {
        if values.is_some() {
            return Err(syntax("["));
        }
        return Ok(Line::Delete(path));
    }
    match values {
        None => Ok(Line::Set(vec![path])),
        Some(v) if v.is_empty() => Err(syntax("]")),
        Some(v) => Ok(Line::Set(
            v.into_iter()
                .map(|value| {
                    let mut st = path.clone();
                    st.push(value);
                    st
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::from_set_text(text).unwrap()
    }

    #[test]
    fn set_delete_and_canonical_text() {
        let mut c =
            cfg("set interfaces ge-0/0/12 description \"AP port\"\nset vlans ap-data vlan-id 20");
        assert_eq!(
            c.set_lines(),
            [
                "set interfaces ge-0/0/12 description \"AP port\"",
                "set vlans ap-data vlan-id 20"
            ]
        );
        let issues = c.load_set_text(
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members [ ap-data ap-mgmt ]\n\
             delete vlans ap-data\n\
             delete vlans nope",
            None,
        );
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].severity, Severity::Warning);
        assert_eq!(issues[0].message, "statement not found");
        assert_eq!(issues[0].bad_element, "nope");
        assert_eq!(issues[0].edit_path.as_deref(), Some("[edit vlans]"));
        assert_eq!(c.statements().len(), 3);
        assert!(c.set_lines().contains(
            &"set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members ap-mgmt"
                .to_string()
        ));
    }

    #[test]
    fn single_valued_keywords_replace_and_prefixes_are_absorbed() {
        let mut c = cfg("set interfaces ge-0/0/1\nset interfaces ge-0/0/1 description a");
        assert_eq!(c.set_lines(), ["set interfaces ge-0/0/1 description a"]);
        c.load_set_text(
            "set interfaces ge-0/0/1 description b\nset interfaces ge-0/0/1",
            None,
        );
        assert_eq!(c.set_lines(), ["set interfaces ge-0/0/1 description b"]);
    }

    #[test]
    fn bad_lines_are_errors_and_good_lines_still_apply() {
        let mut c = Config::new();
        let issues = c.load_set_text(
            "set system1 host-name x\nset vlans v vlan-id 3\nset vlans [ a\nfrob vlans\nset interfaces \"x\nset\nset vlans [ w ] x",
            None,
        );
        let bad: Vec<&str> = issues.iter().map(|i| i.bad_element.as_str()).collect();
        assert_eq!(bad, ["system1", "[", "frob", "\"x", "set", "x"]);
        assert!(issues
            .iter()
            .all(|i| i.severity == Severity::Error && i.message == "syntax error"));
        assert_eq!(c.set_lines(), ["set vlans v vlan-id 3"]);
    }

    #[test]
    fn reject_fault_applies_to_matching_lines_only() {
        let mut c = Config::new();
        let issues = c.load_set_text(
            "set vlans a vlan-id 5000\nset vlans b vlan-id 5",
            Some(("5000", "Value 5000 is not within range (1..4094)")),
        );
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].message,
            "Value 5000 is not within range (1..4094)"
        );
        assert_eq!(c.set_lines(), ["set vlans b vlan-id 5"]);
    }

    #[test]
    fn serde_round_trip_and_changes() {
        let a = cfg("set vlans a vlan-id 1\nset system host-name \"sw 1\"");
        let json = serde_json::to_string(&a).unwrap();
        let b: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        let c = cfg("set vlans a vlan-id 2\nset system host-name \"sw 1\"");
        assert_eq!(c.changes_from(&a), (1, 1));
        assert_eq!(
            a.filter(&["vlans".to_string()]).set_lines(),
            ["set vlans a vlan-id 1"]
        );
    }
}
