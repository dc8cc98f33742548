//! Junos configuration text (`show configuration`, curly braces) read as `set`-line token
//! paths, and the checks built on it: which planned lines the active configuration does not
//! reflect (the read-back after a commit of unknown outcome).

/// The `set` lines (of `lines`) absent from a curly-brace configuration text.
pub fn missing_set_lines(config_text: &str, lines: &[String]) -> Vec<String> {
    let present = flatten_config(config_text);
    lines
        .iter()
        .filter(|l| l.trim_start().starts_with("set "))
        .filter(|l| {
            let tokens = tokenize(l);
            expand_lists(&tokens[1..])
                .iter()
                .any(|want| !present.iter().any(|have| have.starts_with(want)))
        })
        .cloned()
        .collect()
}

/// The lines (`set` and `delete`) the configuration text does not reflect: a `set` statement
/// absent, or something still under a `delete`d path that no `set` line of `lines` put back
/// (`delete ... vlan members` then `set ... vlan members 10` leaves only 10). So a plan that
/// only deletes is checked too.
pub fn unmet_lines(config_text: &str, lines: &[String]) -> Vec<String> {
    let mut out = missing_set_lines(config_text, lines);
    let present = flatten_config(config_text);
    let wanted: Vec<Vec<String>> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("set "))
        .flat_map(|l| expand_lists(&tokenize(l)[1..]))
        .collect();
    for line in lines
        .iter()
        .filter(|l| l.trim_start().starts_with("delete "))
    {
        let gone = tokenize(line)[1..].to_vec();
        let left = present.iter().any(|have| {
            have.starts_with(&gone) && !wanted.iter().any(|want| want.starts_with(have))
        });
        if left {
            out.push(line.clone());
        }
    }
    out
}

/// Turns `show configuration` text into token paths, one per statement (containers too), as
/// if written as `set` lines. Inactive statements are left out; comments are skipped.
pub fn flatten_config(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<String>, bool)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut list: Option<Vec<String>> = None;
    let mut items: Vec<String> = Vec::new();
    let mut in_comment = false;
    for line in text.lines() {
        let line = line.trim();
        if in_comment {
            in_comment = !line.contains("*/");
            continue;
        }
        if line.starts_with("/*") {
            in_comment = !line.contains("*/");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        for token in tokenize(line) {
            if let Some(open) = &mut list {
                match token.as_str() {
                    "]" => items = list.take().unwrap_or_default(),
                    _ => open.push(token),
                }
                continue;
            }
            if token.starts_with('#') && words.is_empty() {
                // `## SECRET-DATA` and other trailing annotations.
                break;
            }
            let inactive = stack.iter().any(|(_, off)| *off);
            match token.as_str() {
                "{" => {
                    let off = words.first().is_some_and(|w| w == "inactive:");
                    let group: Vec<String> = words.drain(..).filter(|w| !is_tag(w)).collect();
                    if !inactive && !off {
                        out.push(path(&stack, &group));
                    }
                    stack.push((group, off));
                }
                "}" => {
                    stack.pop();
                    words.clear();
                }
                "[" => list = Some(Vec::new()),
                ";" => {
                    let off = words.first().is_some_and(|w| w == "inactive:");
                    let stmt: Vec<String> = words.drain(..).filter(|w| !is_tag(w)).collect();
                    let listed = std::mem::take(&mut items);
                    if inactive || off || stmt.is_empty() {
                        continue;
                    }
                    if listed.is_empty() {
                        out.push(path(&stack, &stmt));
                    }
                    for item in listed {
                        let mut s = stmt.clone();
                        s.push(item);
                        out.push(path(&stack, &s));
                    }
                }
                _ => words.push(token),
            }
        }
    }
    out
}

fn is_tag(word: &str) -> bool {
    matches!(word, "inactive:" | "protect:" | "replace:")
}

fn path(stack: &[(Vec<String>, bool)], last: &[String]) -> Vec<String> {
    stack
        .iter()
        .flat_map(|(g, _)| g.iter().cloned())
        .chain(last.iter().cloned())
        .collect()
}

/// `members [ 10 20 ]` in a set line stands for two statements.
fn expand_lists(tokens: &[String]) -> Vec<Vec<String>> {
    match (
        tokens.iter().position(|t| t == "["),
        tokens.iter().position(|t| t == "]"),
    ) {
        (Some(open), Some(close)) if open < close => tokens[open + 1..close]
            .iter()
            .map(|item| {
                let mut v = tokens[..open].to_vec();
                v.push(item.clone());
                v
            })
            .collect(),
        _ => vec![tokens.to_vec()],
    }
}

/// Splits a Junos line into words: quotes removed (with `\"` escapes), `{ } ; [ ]` as
/// separate tokens outside quotes.
pub fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
                '"' => quoted = false,
                _ => word.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                was_quoted = true;
            }
            c if c.is_whitespace() => flush(&mut word, &mut was_quoted, &mut out),
            '{' | '}' | ';' | '[' | ']' => {
                flush(&mut word, &mut was_quoted, &mut out);
                out.push(c.to_string());
            }
            _ => word.push(c),
        }
    }
    flush(&mut word, &mut was_quoted, &mut out);
    out
}

fn flush(word: &mut String, was_quoted: &mut bool, out: &mut Vec<String>) {
    if !word.is_empty() || *was_quoted {
        out.push(std::mem::take(word));
    }
    *was_quoted = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"## Last commit: 2024-05-06 11:04:06 UTC by mesa
version 20.4R3-S1.3;
/* a comment
   over two lines { */
interfaces {
    ge-0/0/12 {
        description "AP ap-01 \"lobby\"";
        native-vlan-id 1;
        unit 0 {
            family ethernet-switching {
                interface-mode trunk;
                vlan {
                    members [ 1 10 20 ];
                }
            }
        }
    }
    inactive: ge-0/0/13 {
        description "AP ap-02";
    }
}
protocols {
    dot1x {
        authenticator {
            interface {
                ge-0/0/14 {
                    supplicant multiple;
                    mac-radius {
                        restrict;
                    }
                    inactive: retries 3;
                    server-fail vlan-name sf;
                }
            }
        }
    }
}
system {
    root-authentication {
        encrypted-password "$6$abc"; ## SECRET-DATA
    }
}
"#;

    #[test]
    fn config_text_read_back_as_set_lines() {
        let lines: Vec<String> = [
            r#"set interfaces ge-0/0/12 description "AP ap-01 \"lobby\"""#,
            "set interfaces ge-0/0/12 native-vlan-id 1",
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk",
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 10",
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members [ 1 20 ]",
            "delete protocols dot1x authenticator interface ge-0/0/12",
            "set protocols dot1x authenticator interface ge-0/0/14 mac-radius restrict",
            "set protocols dot1x authenticator interface ge-0/0/14 supplicant multiple",
            "set protocols dot1x authenticator interface ge-0/0/14 server-fail vlan-name sf",
            "set system root-authentication encrypted-password $6$abc",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(missing_set_lines(CONFIG, &lines), Vec::<String>::new());

        let absent: Vec<String> = [
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 30",
            "set interfaces ge-0/0/12 native-vlan-id 10",
            "set interfaces ge-0/0/13 description \"AP ap-02\"",
            "set protocols dot1x authenticator interface ge-0/0/14 retries 3",
            "set interfaces ge-0/0/1 description x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            missing_set_lines(CONFIG, &absent),
            absent,
            "inactive or different statements count as missing"
        );
    }

    #[test]
    fn deletes_are_read_back_too() {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        // Replaced: members 1 10 20 are all set again.
        let replace = lines(&[
            "delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members",
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members [ 1 10 20 ]",
        ]);
        assert_eq!(unmet_lines(CONFIG, &replace), Vec::<String>::new());
        // Only 10 wanted: 1 and 20 still there.
        let narrower = lines(&[
            "delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members",
            "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 10",
        ]);
        assert_eq!(unmet_lines(CONFIG, &narrower), narrower[..1]);
        // A plan that only deletes.
        let only_delete = lines(&[
            "delete protocols dot1x authenticator interface ge-0/0/14",
            "delete protocols dot1x authenticator interface ge-0/0/99",
        ]);
        assert_eq!(unmet_lines(CONFIG, &only_delete), only_delete[..1]);
        // Inactive statements count as gone.
        let inactive = lines(&["delete interfaces ge-0/0/13"]);
        assert_eq!(unmet_lines(CONFIG, &inactive), Vec::<String>::new());
    }

    #[test]
    fn tokenizer_handles_quotes_and_punctuation() {
        assert_eq!(tokenize(r#"set a "b c" d;"#), ["set", "a", "b c", "d", ";"]);
        assert_eq!(
            tokenize(r#"x "q\"uote" "" [ 1 2 ]"#),
            ["x", "q\"uote", "", "[", "1", "2", "]"]
        );
        assert_eq!(tokenize("a{b}"), ["a", "{", "b", "}"]);
    }
}
