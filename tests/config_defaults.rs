//! One source of truth for defaults: every value `config.example.toml` shows equals the
//! code's default (`Config::default()`), except lines marked as examples, and every key the
//! code has is shown in the example.
//!
//! Conventions of the example file this test relies on:
//! - a line whose comment starts with the word `example` shows an example value, not the
//!   default (`tenant = "acme"  # example`); on a table header it marks the whole table;
//! - `"${VAR}"` values are secret references: secrets have no default.

use std::path::Path;

use mesa::config::Config;

fn is_example(line: &str) -> bool {
    let Some((_, comment)) = line.split_once('#') else {
        return false;
    };
    let comment = comment.trim_start();
    comment == "example"
        || comment
            .strip_prefix("example")
            .is_some_and(|rest| rest.starts_with([';', ',', ':', ' ', '(']))
}

/// The example file without example lines and secret references.
fn defaults_only(text: &str) -> String {
    let mut out = String::new();
    let mut skip_table = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            skip_table = is_example(line);
        }
        if skip_table || trimmed.starts_with('#') || is_example(line) || line.contains("${") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every leaf of `value` as (`a.b.c`, value); arrays are leaves.
fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match value {
        toml::Value::Table(table) if !table.is_empty() => {
            for (key, item) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, item, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn get<'a>(value: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    path.split('.')
        .try_fold(value, |v, key| v.as_table().and_then(|t| t.get(key)))
}

#[test]
fn example_values_equal_the_code_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).expect("config.example.toml");
    let shown = defaults_only(&text);
    let raw: toml::Value = toml::from_str(&shown).expect("example parses");
    // Through the real loader and serializer, so "60s" and "1m" compare equal.
    let example = Config::from_toml(&shown, &path).unwrap_or_else(|e| panic!("{e}"));
    let example = toml::Value::try_from(&example).expect("serialize example");
    let defaults = toml::Value::try_from(Config::default()).expect("serialize defaults");

    let mut shown_leaves = Vec::new();
    leaves("", &raw, &mut shown_leaves);
    let mut wrong = Vec::new();
    for (key, _) in &shown_leaves {
        match (get(&example, key), get(&defaults, key)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => wrong.push(format!(
                "{key}: example shows {}, code default is {}",
                a.map(|v| v.to_string()).unwrap_or("nothing".into()),
                b.map(|v| v.to_string()).unwrap_or("unset".into())
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "config.example.toml differs from Config::default() (mark example values with \
         `# example`):\n{}",
        wrong.join("\n")
    );

    let mut code_leaves = Vec::new();
    leaves("", &defaults, &mut code_leaves);
    let missing: Vec<&str> = code_leaves
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| {
            // Shown as `name = ...` (maybe commented out, maybe in an inline table), or as a
            // table header for an empty table or array of tables.
            let name = key.rsplit('.').next().unwrap_or(key);
            !(text.contains(&format!("{name} =")) || text.contains(&format!("[{key}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys with a default that config.example.toml does not show: {missing:?}"
    );
}

#[test]
fn example_marker_is_recognised() {
    assert!(is_example("tenant = \"acme\"   # example"));
    assert!(is_example("[switches.\"sw1\"]  # example, not a default"));
    assert!(!is_example(
        "domain_suffix = \"\"   # e.g. \".example.net\""
    ));
    assert!(!is_example("listen = \"0.0.0.0:51360\""));
}
