//! The `mesa` command line: `serve`, `check-config`, `replay`, `ports`, `events`, `demo`,
//! `reconcile`, `hold` / `release` / `holds` (maintenance holds), `chatops manifest`,
//! `relay test`.
//! Configuration comes from `--config`, else `$MESA_CONFIG`, else `./config.toml`; a bad
//! configuration stops every command with `file: key: reason` and exit code 2.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::App;
use crate::backend::dry_run::DryRun;
use crate::config::{Config, ConfigErrors};
use crate::ingest::payload;
use crate::lock::DataDirLock;
use crate::model::{Decision, Source};
use crate::reconcile::{ProgressMode, ReconcileOptions};

#[derive(Parser, Debug)]
#[command(
    name = "mesa",
    version,
    about = "Provisions switchports for Juniper Mist access points"
)]
pub struct Cli {
    /// Configuration file [default: $MESA_CONFIG, else ./config.toml]; `demo` has its own
    #[arg(long, global = true, env = "MESA_CONFIG")]
    pub config: Option<PathBuf>,
    /// `--config` was typed (not taken from $MESA_CONFIG): `demo` refuses it.
    #[arg(skip)]
    pub config_on_command_line: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Receive webhooks and provision ports.
    Serve,
    /// Validate the configuration and print it with secrets masked.
    CheckConfig,
    /// Run one webhook body through the pipeline now and print every step and the decision.
    Replay {
        payload: PathBuf,
        /// Use the dry-run backend whatever the configuration says.
        #[arg(long)]
        dry_run: bool,
    },
    /// Ports mesa manages.
    Ports {
        #[arg(long)]
        json: bool,
    },
    /// Recent decisions, newest first.
    Events {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Watch mesa work against a simulated Mist cloud and switch; no account needed.
    Demo {
        /// Feed mesa from a simulated Mist WebSocket stream instead of webhooks.
        #[arg(long)]
        stream: bool,
    },
    /// Compare Mist with what mesa remembers and fix what webhooks missed (through the same
    /// journal, guards and backend as a webhook).
    Reconcile {
        /// Only this site (default: the whole org, mist.org_id).
        #[arg(long)]
        site: Option<String>,
        /// Print the plan; change nothing (no journal entry, no backend call).
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Record ports that already carry the AP profile as managed, without touching them.
        #[arg(long)]
        adopt: bool,
    },
    /// Put a site on maintenance hold: no reverts there until released or expired.
    Hold {
        site: String,
        /// How long the hold lasts (30m, 2h, 1d); without it, until released.
        #[arg(long = "for", value_name = "DURATION")]
        lasts: Option<String>,
        /// Shown with the hold everywhere (chat, `mesa holds`, decisions).
        #[arg(long)]
        reason: Option<String>,
    },
    /// End a site's maintenance hold.
    Release { site: String },
    /// Maintenance holds in force.
    Holds {
        #[arg(long)]
        json: bool,
    },
    /// Print what to install in a chat platform for `/mesa` (app manifest, slash command).
    Chatops {
        #[command(subcommand)]
        command: ChatopsCommand,
    },
    /// `[[relay]]` rules: Mist webhook topics passed on to chat.
    Relay {
        #[command(subcommand)]
        command: RelayCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum RelayCommand {
    /// Send a sample of each topic the rule takes to the rule's targets.
    Test {
        /// The rule's `name`.
        #[arg(long)]
        rule: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChatopsCommand {
    /// The Slack app manifest or the Mattermost slash command definition.
    Manifest {
        #[arg(long, value_enum)]
        platform: ChatPlatform,
        /// The address Slack or Mattermost reaches mesa at (https://mesa.example.net).
        #[arg(long, required_unless_present = "socket_mode")]
        url: Option<String>,
        /// Slack over Socket Mode (`chatops.slack.app_token`): no public URL.
        #[arg(long)]
        socket_mode: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChatPlatform {
    Slack,
    Mattermost,
}

/// Exit codes: 0 fine, 1 runtime failure, 2 bad configuration.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let (path, must_exist) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from("config.toml"), false),
    };
    if let Command::Demo { stream } = cli.command {
        if cli.config_on_command_line {
            eprintln!(
                "mesa: demo runs its own simulated setup and reads no configuration; drop --config"
            );
            return Ok(2);
        }
        if stream {
            return crate::sim::demo_stream::run().await.map(|()| 0);
        }
        return crate::sim::demo::run().await.map(|()| 0);
    }
    let config = match Config::load(&path, must_exist) {
        Ok(config) => config,
        Err(e) => return Ok(config_error(&e)),
    };
    match cli.command {
        Command::Serve => {
            let _lock = DataDirLock::acquire(&config.server.data_dir, "mesa serve")?;
            // What the configuration still lacks, said before the first event runs into it.
            for gap in crate::readiness::gaps(&config) {
                tracing::warn!(impact = ?gap.impact, "{gap}");
            }
            let app = App::build(config).await?;
            tracing::info!(
                backend = app.engine.backend_kind(),
                "mesa {} starting",
                env!("CARGO_PKG_VERSION")
            );
            app.serve(None).await?;
            Ok(0)
        }
        Command::CheckConfig => {
            if config.source.exists() {
                crate::outln!("# {} is valid\n", config.source.display())?;
            } else {
                crate::outln!(
                    "# {} not found: built-in defaults are used (start from config.example.toml)\n",
                    config.source.display()
                )?;
            }
            for gap in crate::readiness::gaps(&config) {
                eprintln!("mesa: warning: {gap}");
            }
            crate::out!("{config}")?;
            // Validation already rendered them; show what a sample port would receive.
            let templates = crate::templates::Templates::load(&config.templates)?;
            crate::outln!("\n# Rendered templates")?;
            for line in templates.check()? {
                crate::outln!("{line}")?;
            }
            for warning in templates.warnings() {
                println!("\n# WARNING: {warning}");
            }
            Ok(0)
        }
        Command::Replay { payload, dry_run } => replay(config, &payload, dry_run).await,
        Command::Ports { json } => {
            let store = crate::store::open(&config).await?;
            let ports = store.ports().await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&ports)?)?;
            } else {
                crate::outln!(
                    "{:<24} {:<12} {:<8} {:<8} {:<14} SINCE",
                    "SWITCH",
                    "PORT",
                    "PROFILE",
                    "MANAGED",
                    "AP"
                )?;
                for p in ports {
                    crate::outln!(
                        "{:<24} {:<12} {:<8} {:<8} {:<14} {}",
                        p.switch_name,
                        p.port,
                        p.profile,
                        if p.managed { "yes" } else { "no" },
                        p.ap_mac
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| "-".into()),
                        p.since.format("%Y-%m-%d %H:%M:%S")
                    )?;
                }
            }
            Ok(0)
        }
        Command::Events { json, limit } => {
            let store = crate::store::open(&config).await?;
            let decisions = store.recent_decisions(limit).await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&decisions)?)?;
            } else {
                for d in &decisions {
                    print_decision(d)?;
                }
            }
            Ok(0)
        }
        Command::Reconcile {
            site,
            dry_run,
            json,
            adopt,
        } => {
            let options = ReconcileOptions {
                site,
                dry_run,
                adopt,
                wait: true,
                progress: ProgressMode::Auto,
            };
            reconcile(config, options, json).await
        }
        Command::Hold {
            site,
            lasts,
            reason,
        } => crate::maintenance::command::hold(&config, &site, lasts.as_deref(), reason).await,
        Command::Release { site } => crate::maintenance::command::release(&config, &site).await,
        Command::Holds { json } => crate::maintenance::command::list(&config, json).await,
        Command::Chatops {
            command:
                ChatopsCommand::Manifest {
                    platform,
                    url,
                    socket_mode,
                },
        } => {
            let text = match (platform, url) {
                (ChatPlatform::Slack, _) if socket_mode => {
                    crate::chatops::manifest::slack_socket_mode()
                }
                (ChatPlatform::Slack, Some(url)) => crate::chatops::manifest::slack(&url),
                (ChatPlatform::Mattermost, Some(url)) => crate::chatops::manifest::mattermost(&url),
                (_, None) => {
                    eprintln!("mesa: --url is required (Socket Mode is Slack only)");
                    return Ok(2);
                }
            };
            crate::outln!("{text}")?;
            Ok(0)
        }
        Command::Relay {
            command: RelayCommand::Test { rule },
        } => Ok(crate::relay::sample::test_rule(&config, &rule).await?),
        Command::Demo { .. } => Ok(0),
    }
}

/// Exit code 1 when Mist could not be read or an event failed.
async fn reconcile(config: Config, options: ReconcileOptions, json: bool) -> anyhow::Result<i32> {
    // A dry run only reads; anything else may change switches.
    let _lock = match options.dry_run {
        true => None,
        false => Some(DataDirLock::acquire(
            &config.server.data_dir,
            "mesa reconcile",
        )?),
    };
    let app = App::build(config).await?;
    let report = match crate::reconcile::run(&app, &options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("mesa: reconcile: {e}");
            return Ok(1);
        }
    };
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::out!("{}", report.to_table())?;
    }
    Ok(if report.outcomes.contains_key("failed") {
        1
    } else {
        0
    })
}

fn config_error(errors: &ConfigErrors) -> i32 {
    for e in errors.iter() {
        eprintln!("mesa: configuration error: {e}");
    }
    2
}

async fn replay(config: Config, path: &PathBuf, dry_run: bool) -> anyhow::Result<i32> {
    let body = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = match payload::parse(&body) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mesa: {}: {e}", path.display());
            return Ok(1);
        }
    };
    for ignored in &parsed.ignored {
        crate::outln!("ignored one event ({})", ignored.label())?;
    }
    for skipped in &parsed.skipped {
        println!("skipped {skipped}");
    }
    let mut config = config;
    let _scratch;
    let _lock;
    let app = if dry_run {
        _scratch = scratch_store(&mut config)?;
        let templates = Arc::new(crate::templates::Templates::load(&config.templates)?);
        App::with_backend(config, Arc::new(DryRun::with_templates(templates))).await?
    } else {
        _lock = DataDirLock::acquire(&config.server.data_dir, "mesa replay")?;
        App::build(config).await?
    };
    let mut failed = false;
    for mut event in parsed.events {
        event.source = Source::Replay;
        app.store
            .journal_write(std::slice::from_ref(&event), &[])
            .await?;
        let decision = app.engine.decide_now(event).await;
        failed |= decision.outcome.label() == "failed";
        print_decision(&decision)?;
    }
    Ok(if failed { 1 } else { 0 })
}

/// Points `config` at a copy of the store in a temp dir (removed when the guard drops), so
/// a `--dry-run` decides from the real state without recording anything in it.
fn scratch_store(config: &mut Config) -> anyhow::Result<ScratchDir> {
    let dir = std::env::temp_dir().join(format!("mesa-dry-run-{}", uuid::Uuid::new_v4()));
    if config.store.kind == crate::config::StoreKind::Postgres {
        // A shared database is never written by a dry run: it decides on an empty scratch
        // SQLite store instead (no recorded ports or APs).
        tracing::warn!("replay --dry-run with store.kind = \"postgres\": decided without the recorded ports and APs");
        config.store.kind = crate::config::StoreKind::Sqlite;
    } else {
        crate::store::sqlite::copy_database(&config.server.data_dir, &dir)?;
    }
    config.server.data_dir = dir.clone();
    Ok(ScratchDir(dir))
}

struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A decision as a person reads it: what happened, then why, step by step.
pub fn print_decision(d: &Decision) -> std::io::Result<()> {
    let e = &d.event;
    crate::outln!(
        "{}  {} {} ({}) site {}  → {}",
        d.decided_at.format("%Y-%m-%d %H:%M:%S"),
        e.kind,
        e.ap_mac.colon(),
        e.ap_name.as_deref().unwrap_or("unnamed"),
        if e.site_id.is_empty() {
            "-"
        } else {
            &e.site_id
        },
        d.outcome.summary()
    )?;
    if d.will_retry {
        crate::outln!("    (not final: the event is being retried; its final decision follows)")?;
    }
    crate::outln!(
        "    event {} via {}, backend {}, {} ms",
        e.id,
        e.source.as_str(),
        d.backend,
        d.duration_ms
    )?;
    for step in &d.lookups {
        crate::outln!("    · {step}")?;
    }
    for v in &d.verdicts {
        let numbers = if v.numbers.is_null() {
            String::new()
        } else {
            format!(" {}", v.numbers)
        };
        crate::outln!(
            "    {} {}: {}{}",
            if v.proceed { "✓" } else { "✗" },
            v.guard,
            v.reason,
            numbers
        )?;
    }
    if let Some(diff) = &d.diff {
        for line in diff.lines() {
            crate::outln!("    | {line}")?;
        }
    }
    Ok(())
}
