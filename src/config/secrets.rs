//! Secrets in the configuration: `${VAR}` in any string is replaced by the environment
//! variable, and `<key>_file = "/path"` sets `<key>` to the file's content (trimmed), so no
//! secret has to be written into the file itself. [`Secret`] never shows its value in
//! `Debug`, `Display` or the `check-config` summary.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// A value that must never reach a log line or a chat message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The only way to read the value: named so that every use is easy to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.is_empty() {
            return Err(serde::de::Error::custom("is empty"));
        }
        Ok(Secret(value))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// Resolves `${VAR}` and `*_file` keys throughout the tree, in place, and returns every
/// problem found (not just the first: a user fixes all missing variables in one go). A key
/// that cannot be resolved is removed from the tree, so the later passes can still check the
/// rest of the file.
pub fn resolve(tree: &mut toml::Value, file: &Path) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    resolve_at(tree, "", file, &mut errors);
    errors
}

/// Returns false when `value` could not be resolved (its error is in `errors`).
fn resolve_at(
    value: &mut toml::Value,
    path: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> bool {
    match value {
        toml::Value::String(text) => match interpolate(text) {
            Ok(resolved) => *text = resolved,
            Err(reason) => {
                errors.push(ConfigError::new(file, path, reason));
                return false;
            }
        },
        toml::Value::Array(items) => {
            let mut ok = true;
            for (i, item) in items.iter_mut().enumerate() {
                ok &= resolve_at(item, &format!("{path}[{i}]"), file, errors);
            }
            return ok;
        }
        toml::Value::Table(table) => {
            let file_keys: Vec<String> = table
                .keys()
                .filter(|k| k.ends_with("_file"))
                .cloned()
                .collect();
            for file_key in file_keys {
                let key = file_key.trim_end_matches("_file").to_string();
                let full = join(path, &file_key);
                let value = table.remove(&file_key);
                match read_secret_file(value, &key, &file_key, table.contains_key(&key)) {
                    Ok(content) => {
                        table.insert(key, toml::Value::String(content));
                    }
                    Err(reason) => errors.push(ConfigError::new(file, full, reason)),
                }
            }
            let mut unresolved = Vec::new();
            for (key, item) in table.iter_mut() {
                if !resolve_at(item, &join(path, key), file, errors) {
                    unresolved.push(key.clone());
                }
            }
            for key in unresolved {
                table.remove(&key);
            }
        }
        _ => {}
    }
    true
}

/// The content of the file a `<key>_file` names, trimmed.
fn read_secret_file(
    value: Option<toml::Value>,
    key: &str,
    file_key: &str,
    both: bool,
) -> Result<String, String> {
    if both {
        return Err(format!("set either {key} or {file_key}, not both"));
    }
    let Some(toml::Value::String(secret_path)) = value else {
        return Err("expected a file path (string)".into());
    };
    let secret_path = interpolate(&secret_path)?;
    let content = std::fs::read_to_string(&secret_path)
        .map_err(|e| format!("cannot read {secret_path}: {e}"))?;
    let content = content.trim().to_string();
    if content.is_empty() {
        return Err(format!("{secret_path} is empty"));
    }
    Ok(content)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Replaces every `${VAR}` with the variable's value; `$${` is a literal `${`.
fn interpolate(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(open) = after.strip_prefix("${") {
            let end = open.find('}').ok_or("unclosed ${ in value")?;
            let name = &open[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad variable name ${{{name}}}"));
            }
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => out.push_str(&value),
                _ => return Err(format!("environment variable {name} is not set")),
            }
            rest = &open[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_escapes() {
        std::env::set_var("MESA_TEST_SECRET_A", "s3cr3t");
        assert_eq!(
            interpolate("x-${MESA_TEST_SECRET_A}-y").as_deref(),
            Ok("x-s3cr3t-y")
        );
        assert_eq!(interpolate("$${NOT}").as_deref(), Ok("${NOT}"));
        assert_eq!(interpolate("pa$$word").as_deref(), Ok("pa$$word"));
        assert!(interpolate("${MESA_TEST_UNSET_XYZ}")
            .unwrap_err()
            .contains("MESA_TEST_UNSET_XYZ"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s} {s:?}").contains("hunter2"));
    }
}
