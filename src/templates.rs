//! The Junos `set` templates (minijinja) that turn a [`PortChange`] into configuration lines.
//!
//! Built-in `ap.set.j2` / `secured.set.j2` apply unless `[templates] dir` holds an override;
//! the most specific wins: `switches/<switch>/<profile>.set.j2`, then
//! `sites/<site_id>/<profile>.set.j2`, then `<dir>/<profile>.set.j2`. Every file is read and
//! compiled at load time so a broken template stops mesa before it touches a switch.
//!
//! Besides `[templates.vars]` and the change (`port`, `switch`, `ap_name`...), a template
//! gets `current`: what the port has now ([`PortConfig`], read by the Junos backend inside
//! its lock), so it deletes only the statements mesa owns. Previews (`check-config`, plans
//! built without a switch) get `current.known = false`.
//!
//! Rendered output is checked line by line: only `set ` / `delete ` lines, no control
//! characters, and no value (AP name, site name, vars) may carry a control character, so a
//! newline in a name cannot smuggle in an extra command.

mod vlan_vars;

pub use vlan_vars::check as check_vlan_vars;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::backend::netconf::port_state::PortConfig;
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
    /// Settings that load but do nothing on the switch (see [`vlan_vars`]).
    warnings: Vec<String>,
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
            warnings: Vec::new(),
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
        templates.warnings = vlan_vars::check(&cfg.vars).map_err(|(key, why)| {
            TemplateError::new(&format!("[templates.vars] {key}"), None, why)
        })?;
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

    /// The registered name used for this switch and profile (most specific first). Never
    /// another profile's template: rendering the wrong profile onto a port is worse than
    /// failing the change.
    fn pick(&self, switch: &SwitchRef, profile: Profile) -> Result<&str, TemplateError> {
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
            .ok_or_else(|| {
                TemplateError::new(
                    &file,
                    None,
                    format!(
                        "no {} template for switch {} (not even the built-in)",
                        profile.as_str(),
                        switch.name
                    ),
                )
            })
    }

    /// The file a change would be rendered with, for messages.
    pub fn source_of(&self, switch: &SwitchRef, profile: Profile) -> &str {
        match self.pick(switch, profile) {
            Ok(name) => self.files.get(name).map(String::as_str).unwrap_or(name),
            Err(_) => "(no template)",
        }
    }

    /// Renders the lines for one change, not knowing what the port has now (a preview).
    pub fn render(&self, change: &PortChange) -> Result<Vec<String>, TemplateError> {
        self.render_on(change, &PortConfig::unknown(&change.port))
    }

    /// Renders the lines for one change onto the port as it is now.
    pub fn render_on(
        &self,
        change: &PortChange,
        current: &PortConfig,
    ) -> Result<Vec<String>, TemplateError> {
        let name = self.pick(&change.switch, change.profile)?;
        self.render_with(name, change, current)
    }

    fn render_with(
        &self,
        name: &str,
        change: &PortChange,
        current: &PortConfig,
    ) -> Result<Vec<String>, TemplateError> {
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
        // Values read from the switch: a control character in them is refused like any other.
        let current = Value::from_serialize(current);
        check_value(&shown, &current).map_err(|e| {
            TemplateError::new(&shown, None, format!("variable current: {}", e.reason))
        })?;
        ctx.insert("current".to_string(), current);
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
            let lines = self.render_with(name, &change, &PortConfig::unknown(&change.port))?;
            out.push(format!(
                "# {shown} (sample port {}, switch {})",
                change.port, change.switch.name
            ));
            out.extend(lines);
        }
        Ok(out)
    }

    /// Settings that load but have no effect on the switch, for `check-config`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(switch: &str, site: &str, profile: Profile) -> PortChange {
        PortChange {
            switch: SwitchRef {
                name: switch.into(),
                site_id: site.into(),
                mac: None,
                mgmt_addr: None,
            },
            port: InterfaceName::parse("ge-0/0/12").unwrap(),
            profile,
            ap: ApRef {
                mac: Mac::parse("5c5b35aabbcc").unwrap(),
                name: Some("ap-lobby".into()),
            },
            site_name: Some("HQ".into()),
            reason: "AP_CONNECTED".into(),
        }
    }

    fn vars(pairs: &str) -> BTreeMap<String, toml::Value> {
        toml::from_str(pairs).unwrap()
    }

    #[test]
    fn a_missing_template_is_an_error_not_another_profile() {
        let mut t = Templates::load(&TemplatesConfig {
            dir: None,
            vars: vars("native_vlan = 100\nap_vlans = [10, 20]"),
        })
        .unwrap();
        t.files.remove("builtin/secured.set.j2");
        let err = t
            .render(&change("sw1", "s1", Profile::Secured))
            .expect_err("no secured template");
        assert_eq!(err.template, "secured.set.j2");
        assert!(err.reason.contains("no secured template"), "{err}");
        assert_eq!(
            t.source_of(
                &change("sw1", "s1", Profile::Secured).switch,
                Profile::Secured
            ),
            "(no template)"
        );
        assert!(t.render(&change("sw1", "s1", Profile::Ap)).is_ok());
    }

    #[test]
    fn builtin_ap_profile() {
        let cfg = TemplatesConfig {
            dir: None,
            vars: vars("native_vlan = 100\nap_vlans = [10, 20]"),
        };
        let lines = Templates::load(&cfg)
            .unwrap()
            .render(&change("sw1", "s1", Profile::Ap))
            .unwrap();
        assert_eq!(
            lines,
            [
                "delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members",
                "set interfaces ge-0/0/12 native-vlan-id 100",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 100",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 10",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 20",
                "delete protocols dot1x authenticator interface ge-0/0/12",
                "set interfaces ge-0/0/12 description \"AP ap-lobby\"",
            ]
        );
    }

    #[test]
    fn builtin_secured_profile_with_empty_vars() {
        let lines = Templates::default()
            .render(&change("sw1", "s1", Profile::Secured))
            .unwrap();
        assert_eq!(
            lines,
            [
                "delete interfaces ge-0/0/12 native-vlan-id",
                "delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode access",
                "delete protocols dot1x authenticator interface ge-0/0/12 mac-radius",
                "set protocols dot1x authenticator interface ge-0/0/12 mac-radius restrict",
                "set protocols dot1x authenticator interface ge-0/0/12 supplicant multiple",
                "set protocols dot1x authenticator interface ge-0/0/12 retries 3",
                "set protocols dot1x authenticator interface ge-0/0/12 quiet-period 10",
                "set protocols dot1x authenticator interface ge-0/0/12 transmit-period 5",
                "set protocols dot1x authenticator interface ge-0/0/12 server-timeout 10",
                "set interfaces ge-0/0/12 description \"secured (802.1X/MAB)\"",
            ]
        );
        let mut no_name = change("sw1", "s1", Profile::Ap);
        no_name.ap.name = None;
        let lines = Templates::default().render(&no_name).unwrap();
        assert_eq!(
            lines.last().unwrap(),
            "set interfaces ge-0/0/12 description \"AP 5c5b35aabbcc\""
        );
    }

    fn read(text: &str) -> PortConfig {
        PortConfig::from_text(text, &InterfaceName::parse("ge-0/0/12").unwrap())
    }

    /// A factory-default port: storm-control only, dot1x on the `.0` name.
    const FACTORY: &str = "interfaces { ge-0/0/12 { unit 0 { family ethernet-switching { \
        storm-control default; filter { input guest-acl; } } } } }\n\
        protocols { dot1x { authenticator { interface { ge-0/0/12.0 { supplicant multiple; } } } } }";

    #[test]
    fn on_a_read_port_only_owned_statements_are_deleted() {
        let t = Templates::default();
        let ap = t
            .render_on(&change("sw1", "s1", Profile::Ap), &read(FACTORY))
            .unwrap();
        assert_eq!(
            ap,
            [
                "set interfaces ge-0/0/12 native-vlan-id 1",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode trunk",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members 1",
                "delete protocols dot1x authenticator interface ge-0/0/12.0",
                "set interfaces ge-0/0/12 description \"AP ap-lobby\"",
            ]
        );
        // The AP port as mesa left it, plus two spellings of dot1x (an older mesa added the
        // bare one beside the switch's `.0`): the secured profile keeps the `.0` stanza.
        let trunk = "interfaces { ge-0/0/12 { description \"AP ap-lobby\"; native-vlan-id 1; unit 0 { \
            family ethernet-switching { interface-mode trunk; vlan { members [ 1 10 ]; } storm-control default; } } } }\n\
            protocols { dot1x { authenticator { interface { ge-0/0/12 { mac-radius { restrict; } } \
            ge-0/0/12.0 { supplicant multiple; mac-radius; } } } } }";
        let secured = t
            .render_on(&change("sw1", "s1", Profile::Secured), &read(trunk))
            .unwrap();
        assert_eq!(
            &secured[..6],
            [
                "delete interfaces ge-0/0/12 native-vlan-id",
                "delete interfaces ge-0/0/12 unit 0 family ethernet-switching vlan members",
                "set interfaces ge-0/0/12 unit 0 family ethernet-switching interface-mode access",
                "delete protocols dot1x authenticator interface ge-0/0/12",
                "delete protocols dot1x authenticator interface ge-0/0/12.0 mac-radius",
                "set protocols dot1x authenticator interface ge-0/0/12.0 mac-radius restrict",
            ]
        );
        assert_eq!(
            secured.last().unwrap(),
            "set interfaces ge-0/0/12 description \"secured (802.1X/MAB)\""
        );
        assert!(!secured
            .iter()
            .any(|l| l.contains("storm-control") || l.contains("filter")));
    }

    #[test]
    fn an_operators_description_is_kept() {
        let t = Templates::default();
        let labelled = "interfaces { ge-0/0/12 { description \"patch 3B-12\"; } }";
        for profile in [Profile::Ap, Profile::Secured] {
            let lines = t
                .render_on(&change("sw1", "s1", profile), &read(labelled))
                .unwrap();
            assert!(
                !lines.iter().any(|l| l.contains("description")),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn dot1x_on_all_adds_no_stanza_of_its_own() {
        let t = Templates::default();
        let all =
            "protocols { dot1x { authenticator { interface { all { supplicant multiple; } } } } }";
        let secured = t
            .render_on(&change("sw1", "s1", Profile::Secured), &read(all))
            .unwrap();
        assert!(!secured.iter().any(|l| l.contains("dot1x")), "{secured:?}");
        let ap = t
            .render_on(&change("sw1", "s1", Profile::Ap), &read(all))
            .unwrap();
        assert!(
            !ap.iter().any(|l| l.contains("dot1x")),
            "`all` is never deleted: {ap:?}"
        );
    }

    #[test]
    fn server_reject_vlan_is_offered() {
        let cfg = TemplatesConfig {
            dir: None,
            vars: vars("server_reject_vlan = \"REJECTED\""),
        };
        let lines = Templates::load(&cfg)
            .unwrap()
            .render(&change("sw1", "s1", Profile::Secured))
            .unwrap();
        assert!(lines.contains(
            &"set protocols dot1x authenticator interface ge-0/0/12 server-reject-vlan REJECTED"
                .to_string()
        ));
    }

    #[test]
    fn quotes_in_names_are_escaped() {
        let mut c = change("sw1", "s1", Profile::Ap);
        c.ap.name = Some(r#"ap "x" \ y"#.into());
        let lines = Templates::default().render(&c).unwrap();
        assert_eq!(
            lines.last().unwrap(),
            r#"set interfaces ge-0/0/12 description "AP ap \"x\" \\ y""#
        );
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn load_dir(dir: &Path) -> Result<Templates, TemplateError> {
        Templates::load(&TemplatesConfig {
            dir: Some(dir.to_path_buf()),
            vars: BTreeMap::new(),
        })
    }

    #[test]
    fn overrides_most_specific_first() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "ap.set.j2",
            "set interfaces {{ port }} description dir",
        );
        write(
            tmp.path(),
            "sites/s1/ap.set.j2",
            "set interfaces {{ port }} description site-{{ site_id }}",
        );
        write(
            tmp.path(),
            "switches/sw1/ap.set.j2",
            "set interfaces {{ port }} description switch-{{ switch }}",
        );
        write(tmp.path(), "notes.txt", "ignored");
        let t = load_dir(tmp.path()).unwrap();
        let first =
            |sw: &str, site: &str, p: Profile| t.render(&change(sw, site, p)).unwrap()[0].clone();
        assert_eq!(
            first("sw1", "s1", Profile::Ap),
            "set interfaces ge-0/0/12 description switch-sw1"
        );
        assert_eq!(
            first("sw2", "s1", Profile::Ap),
            "set interfaces ge-0/0/12 description site-s1"
        );
        assert_eq!(
            first("sw2", "s2", Profile::Ap),
            "set interfaces ge-0/0/12 description dir"
        );
        assert_eq!(
            first("sw1", "s1", Profile::Secured),
            "delete interfaces ge-0/0/12 native-vlan-id"
        );
        assert!(t
            .source_of(&change("sw1", "s1", Profile::Ap).switch, Profile::Ap)
            .ends_with("switches/sw1/ap.set.j2"));
        assert_eq!(
            t.source_of(&change("sw1", "s1", Profile::Ap).switch, Profile::Secured),
            "(built-in) secured.set.j2"
        );

        let check = t.check().unwrap();
        assert_eq!(check.iter().filter(|l| l.starts_with("# ")).count(), 5);
        assert!(check.contains(&"set interfaces ge-0/0/12 description switch-sw1".to_string()));
        assert!(check.contains(&"set interfaces ge-0/0/12 description site-s1".to_string()));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "sites/s9/secured.set.j2",
            "set a\nset b\n{% if %}\nset c\n",
        );
        let e = load_dir(tmp.path()).unwrap_err();
        assert!(e.template.ends_with("sites/s9/secured.set.j2"), "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(
            e.to_string().contains("secured.set.j2:3: syntax error"),
            "{e}"
        );
    }

    #[test]
    fn undefined_variable_is_an_error_with_line() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "ap.set.j2",
            "set interfaces {{ port }} mtu 9216\nset vlans x vlan-id {{ ap_vlan }}\n",
        );
        let t = load_dir(tmp.path()).unwrap();
        let e = t.check().unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.reason.contains("undefined"), "{e}");
    }

    #[test]
    fn unknown_profile_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "switches/sw1/acess.set.j2", "set a");
        let e = load_dir(tmp.path()).unwrap_err();
        assert!(e.reason.contains("unknown profile"), "{e}");
    }

    #[test]
    fn output_lines_must_be_set_or_delete() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "ap.set.j2",
            "set interfaces {{ port }} mtu 9216\n\n   \nrequest system reboot\n",
        );
        let e = load_dir(tmp.path())
            .unwrap()
            .render(&change("sw", "s", Profile::Ap))
            .unwrap_err();
        assert!(
            e.reason.contains("output line 4") && e.reason.contains("set ` or `delete"),
            "{e}"
        );
        write(tmp.path(), "ap.set.j2", "{# nothing #}\n");
        let e = load_dir(tmp.path())
            .unwrap()
            .render(&change("sw", "s", Profile::Ap))
            .unwrap_err();
        assert!(e.reason.contains("no lines"), "{e}");
    }

    #[test]
    fn control_characters_are_refused() {
        // A newline in an AP name must not become a second command.
        let mut c = change("sw1", "s1", Profile::Ap);
        c.ap.name = Some("lobby\nset system root-authentication plain-text-password".into());
        let e = Templates::default().render(&c).unwrap_err();
        assert!(
            e.reason.contains("ap_name") && e.reason.contains("control character"),
            "{e}"
        );

        let mut c = change("sw1", "s1", Profile::Ap);
        c.site_name = Some("HQ\u{7}".into());
        assert!(Templates::default().render(&c).is_err());

        let cfg = TemplatesConfig {
            dir: None,
            vars: vars("guest_vlan = \"g\\nset x\""),
        };
        let e = Templates::load(&cfg).unwrap_err();
        assert!(e.template.contains("guest_vlan"), "{e}");
        let cfg = TemplatesConfig {
            dir: None,
            vars: vars("ap_vlans = [\"ok\", \"bad\\r\"]"),
        };
        assert!(Templates::load(&cfg).is_err());

        // A control character produced by the template itself.
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "ap.set.j2",
            "set interfaces {{ port }} description \"a\tb\"",
        );
        let e = load_dir(tmp.path())
            .unwrap()
            .render(&change("sw", "s", Profile::Ap))
            .unwrap_err();
        assert!(e.reason.contains("control character"), "{e}");
    }

    #[test]
    fn missing_dir_is_an_error() {
        let e = load_dir(Path::new("/nonexistent/mesa-templates")).unwrap_err();
        assert!(e.reason.contains("not a directory"), "{e}");
    }
}
