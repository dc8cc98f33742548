//! The Junos `set` templates (minijinja) that turn a [`PortChange`] into configuration lines.
//!
//! Built-in `ap.set.j2` / `secured.set.j2` apply unless `[templates] dir` holds an override;
//! the most specific wins: `switches/<switch>/<profile>.set.j2`, then
//! `sites/<site_id>/<profile>.set.j2`, then `<dir>/<profile>.set.j2`. Every file is read and
//! compiled at load time so a broken template stops mesa before it touches a switch.
//!
//! Rendered output is checked line by line: only `set ` / `delete ` lines, no control
//! characters, and no value (AP name, site name, vars) may carry a control character, so a
//! newline in a name cannot smuggle in an extra command.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::config::TemplatesConfig;
use crate::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};

const BUILTIN_AP: &str = include_str!("../templates/ap.set.j2");
const BUILTIN_SECURED: &str = include_str!("../templates/secured.set.j2");

/// A template problem: which file, which line when known, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    pub template: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.template, line, self.reason),
            None => write!(f, "{}: {}", self.template, self.reason),
        }
    }
}

impl TemplateError {
    fn new(template: &str, line: Option<usize>, reason: impl Into<String>) -> TemplateError {
        TemplateError {
            template: template.to_string(),
            line,
            reason: reason.into(),
        }
    }

    fn from_jinja(template: &str, e: &minijinja::Error) -> TemplateError {
        let reason = match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        };
        TemplateError::new(template, e.line(), reason)
    }
}

/// All templates, compiled, plus the shared variables.
pub struct Templates {
    env: Environment<'static>,
    /// Display name (file path or `(built-in) ap.set.j2`) per registered template name.
    files: BTreeMap<String, String>,
    vars: BTreeMap<String, Value>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("files", &self.files)
            .finish()
    }
}

fn file_name(profile: Profile) -> String {
    format!("{}.set.j2", profile.as_str())
}

impl Templates {
    pub fn load(cfg: &TemplatesConfig) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(false);
        env.add_filter("quote", quote);
        let mut templates = Templates {
            env,
            files: BTreeMap::new(),
            vars: BTreeMap::new(),
        };
        for (profile, source) in [
            (Profile::Ap, BUILTIN_AP),
            (Profile::Secured, BUILTIN_SECURED),
        ] {
            let name = format!("builtin/{}", file_name(profile));
            templates.add(
                name,
                format!("(built-in) {}", file_name(profile)),
                source.to_string(),
            )?;
        }
        if let Some(dir) = &cfg.dir {
            templates.load_dir(dir)?;
        }
        for (key, value) in &cfg.vars {
            let value = Value::from_serialize(value);
            check_value(&format!("[templates.vars] {key}"), &value)?;
            templates.vars.insert(key.clone(), value);
        }
        Ok(templates)
    }

    fn add(&mut self, name: String, shown: String, source: String) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name.clone(), source)
            .map_err(|e| TemplateError::from_jinja(&shown, &e))?;
        self.files.insert(name, shown);
        Ok(())
    }

    fn load_dir(&mut self, dir: &Path) -> Result<(), TemplateError> {
        let shown = dir.display().to_string();
        if !dir.is_dir() {
            return Err(TemplateError::new(
                &shown,
                None,
                "templates.dir is not a directory",
            ));
        }
        self.load_profiles(dir, "dir")?;
        for scope in ["sites", "switches"] {
            let parent = dir.join(scope);
            if !parent.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(&parent).map_err(|e| {
                TemplateError::new(&parent.display().to_string(), None, e.to_string())
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| {
                    TemplateError::new(&parent.display().to_string(), None, e.to_string())
                })?;
                if entry.path().is_dir() {
                    let key = entry.file_name().to_string_lossy().into_owned();
                    self.load_profiles(&entry.path(), &format!("{scope}/{key}"))?;
                }
            }
        }
        Ok(())
    }

    /// Reads `<profile>.set.j2` files of one folder; other `*.set.j2` names are refused so
    /// a typo (`acess.set.j2`) does not silently leave the built-in in place.
    fn load_profiles(&mut self, folder: &Path, prefix: &str) -> Result<(), TemplateError> {
        let entries = std::fs::read_dir(folder)
            .map_err(|e| TemplateError::new(&folder.display().to_string(), None, e.to_string()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(stem) = name.strip_suffix(".set.j2") else {
                continue;
            };
            let shown = path.display().to_string();
            if Profile::parse(stem).is_none() {
                return Err(TemplateError::new(
                    &shown,
                    None,
                    "unknown profile; expected ap.set.j2 or secured.set.j2",
                ));
            }
            let source = std::fs::read_to_string(&path)
                .map_err(|e| TemplateError::new(&shown, None, e.to_string()))?;
            self.add(format!("{prefix}/{name}"), shown, source)?;
        }
        Ok(())
    }

    /// The registered name used for this switch and profile (most specific first).
    fn pick(&self, switch: &SwitchRef, profile: Profile) -> &str {
        let file = file_name(profile);
        let candidates = [
            format!("switches/{}/{file}", switch.name),
            format!("sites/{}/{file}", switch.site_id),
            format!("dir/{file}"),
            format!("builtin/{file}"),
        ];
        candidates
            .iter()
            .find_map(|c| self.files.get_key_value(c).map(|(k, _)| k.as_str()))
            .unwrap_or("builtin/ap.set.j2")
    }

    /// The file a change would be rendered with, for messages.
    pub fn source_of(&self, switch: &SwitchRef, profile: Profile) -> &str {
        let name = self.pick(switch, profile);
        self.files.get(name).map(String::as_str).unwrap_or(name)
    }

    /// Renders the lines for one change.
    pub fn render(&self, change: &PortChange) -> Result<Vec<String>, TemplateError> {
        let name = self.pick(&change.switch, change.profile);
        self.render_with(name, change)
    }

    fn render_with(&self, name: &str, change: &PortChange) -> Result<Vec<String>, TemplateError> {
        let shown = self
            .files
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let mut ctx = self.vars.clone();
        let builtins = [
            ("port", change.port.as_str().to_string()),
            ("switch", change.switch.name.clone()),
            ("ap_mac", change.ap.mac.to_string()),
            ("ap_name", change.ap.name.clone().unwrap_or_default()),
            ("site_name", change.site_name.clone().unwrap_or_default()),
            ("site_id", change.switch.site_id.clone()),
            ("profile", change.profile.as_str().to_string()),
            ("reason", change.reason.clone()),
        ];
        for (key, value) in builtins {
            let value = Value::from(value);
            check_value(&shown, &value).map_err(|e| {
                TemplateError::new(&shown, None, format!("variable {key}: {}", e.reason))
            })?;
            ctx.insert(key.to_string(), value);
        }
        let template = self
            .env
            .get_template(name)
            .map_err(|e| TemplateError::from_jinja(&shown, &e))?;
        let text = template
            .render(Value::from(ctx))
            .map_err(|e| TemplateError::from_jinja(&shown, &e))?;
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line.chars().any(char::is_control) {
                return Err(TemplateError::new(
                    &shown,
                    None,
                    format!("output line {}: control character in {line:?}", i + 1),
                ));
            }
            if !(line.starts_with("set ") || line.starts_with("delete ")) {
                return Err(TemplateError::new(
                    &shown,
                    None,
                    format!(
                        "output line {}: must start with `set ` or `delete `: {line:?}",
                        i + 1
                    ),
                ));
            }
            lines.push(line.to_string());
        }
        if lines.is_empty() {
            return Err(TemplateError::new(&shown, None, "renders no lines"));
        }
        Ok(lines)
    }

    /// For `mesa check-config`: renders every loaded template for a sample port and returns
    /// the output, each template introduced by a `# <file>` line.
    pub fn check(&self) -> Result<Vec<String>, TemplateError> {
        let mut out = Vec::new();
        for (name, shown) in &self.files {
            let profile = if name.ends_with("/ap.set.j2") {
                Profile::Ap
            } else {
                Profile::Secured
            };
            let change = sample_change(name, profile);
            let lines = self.render_with(name, &change)?;
            out.push(format!(
                "# {shown} (sample port {}, switch {})",
                change.port, change.switch.name
            ));
            out.extend(lines);
        }
        Ok(out)
    }

    /// Every (profile, file) in use, for logs.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.values().map(String::as_str)
    }
}

impl Default for Templates {
    /// Built-in templates, no variables.
    fn default() -> Self {
        match Templates::load(&TemplatesConfig::default()) {
            Ok(t) => t,
            // The built-ins are compiled in and covered by tests.
            Err(e) => panic!("built-in templates do not compile: {e}"),
        }
    }
}

/// A change resembling a real one, with the switch/site a scoped template is for.
fn sample_change(name: &str, profile: Profile) -> PortChange {
    let mut parts = name.split('/');
    let (scope, key) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let switch_name = if scope == "switches" {
        key
    } else {
        "sample-switch"
    };
    let site_id = if scope == "sites" {
        key
    } else {
        "00000000-0000-0000-0000-000000000000"
    };
    PortChange {
        switch: SwitchRef {
            name: switch_name.to_string(),
            site_id: site_id.to_string(),
            mac: None,
            mgmt_addr: None,
        },
        port: InterfaceName::parse("ge-0/0/12").expect("literal interface name"),
        profile,
        ap: ApRef {
            mac: Mac::parse("5c5b35aabbcc").expect("literal MAC"),
            name: Some("sample-ap".into()),
        },
        site_name: Some("sample site".into()),
        reason: "check-config".into(),
    }
}

/// Refuses control characters anywhere in a value (strings in lists and maps too).
fn check_value(what: &str, value: &Value) -> Result<(), TemplateError> {
    if let Some(s) = value.as_str() {
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(TemplateError::new(
                what,
                None,
                format!("control character {c:?} in value {s:?}"),
            ));
        }
        return Ok(());
    }
    if let Ok(iter) = value.try_iter() {
        for item in iter {
            check_value(what, &item)?;
            if let Ok(v) = value.get_item(&item) {
                if !v.is_undefined() && value.kind() == minijinja::value::ValueKind::Map {
                    check_value(what, &v)?;
                }
            }
        }
    }
    Ok(())
}

/// `{{ x | quote }}`: a Junos double-quoted string, with `"` and `\` escaped.
fn quote(value: String) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}
