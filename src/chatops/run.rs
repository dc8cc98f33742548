//! Runs one chat command for one actor: parse, role check, audit, then the command against
//! the store. Read commands answer only the person who asked; hold and release are announced
//! in the channel (and to the configured notification destinations).

use super::command::{self, ChatCommand};
use super::{render, roles, Actor, Reply};
use crate::http::AppState;
use crate::maintenance::{self, MaintenanceHold};
use crate::model::{InterfaceName, Mac, Profile};
use crate::store::StoreError;

/// Decisions searched by `why` and `status`.
const RECENT: u32 = 500;

pub async fn handle(state: &AppState, actor: &Actor, text: &str) -> Reply {
    let platform = actor.platform.as_str();
    let parsed = command::parse(text);
    let name = parsed.as_ref().map_or("invalid", |c| c.name());
    let role = roles::resolve(&state.chatops, &state.config.chatops, actor).await;
    let audit = |result: &str| {
        state.metrics.chatops_command(platform, name, result);
        tracing::info!(
            actor = %actor.label(),
            command = name,
            role = role.map_or("none", |r| r.as_str()),
            result,
            "chat command"
        );
    };
    let Some(role) = role else {
        audit("refused");
        return Reply::ephemeral(
            "mesa does not know you: ask an admin to add your user id to [chatops.roles]",
        );
    };
    let command = match parsed {
        Ok(command) => command,
        Err(usage) => {
            audit("invalid");
            return Reply::ephemeral(usage.0);
        }
    };
    let needs = command.needs();
    if role < needs {
        audit("refused");
        return Reply::ephemeral(format!(
            "`{}` needs the {needs} role; you are a {role}",
            command.name()
        ));
    }
    let reply = run(state, actor, command).await;
    match reply {
        Ok(reply) => {
            audit("done");
            reply
        }
        Err(e) => {
            audit("failed");
            tracing::error!(error = %e, "chat command failed");
            Reply::ephemeral(format!("mesa could not answer: store: {e}"))
        }
    }
}

async fn run(state: &AppState, actor: &Actor, command: ChatCommand) -> Result<Reply, StoreError> {
    let store = state.store.as_ref();
    match command {
        ChatCommand::Help => Ok(Reply::ephemeral(command::HELP)),
        ChatCommand::Pending => {
            let pending = store.journal_pending().await?;
            let holds = maintenance::all_active(store).await?;
            Ok(Reply::ephemeral(render::pending(&pending, &holds)))
        }
        ChatCommand::Status(args) => status(state, &args).await.map(Reply::ephemeral),
        ChatCommand::Why(args) => {
            let decisions = store.recent_decisions(RECENT).await?;
            let text = match args.as_slice() {
                [target] => match Mac::parse(target) {
                    Ok(mac) => render::why(
                        &format!("AP {}", mac.colon()),
                        decisions.iter().filter(|d| d.event.ap_mac == mac),
                    ),
                    Err(_) => "`why` takes an AP MAC or a switch and a port".to_string(),
                },
                [switch, port] => match InterfaceName::parse(port) {
                    Ok(port) => render::why(
                        &format!("{switch} {port}"),
                        decisions.iter().filter(|d| {
                            d.changes
                                .iter()
                                .any(|c| c.switch.name == *switch && c.port == port)
                        }),
                    ),
                    Err(e) => e.to_string(),
                },
                _ => "usage: `/mesa why <ap-mac | switch port>`".to_string(),
            };
            Ok(Reply::ephemeral(text))
        }
        ChatCommand::Hold {
            site,
            lasts,
            reason,
        } => {
            let hold = MaintenanceHold::new(&site, lasts, reason, &actor.label());
            store.set_maintenance_hold(&hold).await?;
            let text = format!(
                "🛠 {}. No reverts there; connects still apply.",
                hold.describe()
            );
            state.chatops.notify.announce(
                &hold.site_id,
                format!("🛠 Maintenance hold on site {}", hold.site_id),
                text.clone(),
            );
            Ok(Reply::channel(text))
        }
        ChatCommand::Release { site } => match store.release_maintenance_hold(&site).await? {
            Some(hold) => {
                // The hold is gone either way; a failed re-check is tried again by the
                // expiry sweep if it saw the hold (set more than one sweep ago).
                let rechecked = match maintenance::recheck::hold_ended(store, &state.journal, &site)
                    .await
                {
                    Ok(0) => String::new(),
                    Ok(n) => format!(
                        "; {} it held re-checked now",
                        crate::output::count(n as u64, "revert")
                    ),
                    Err(e) => {
                        tracing::warn!(site_id = %site, error = %e, "held reverts not re-checked at release; the expiry sweep retries");
                        format!("; the reverts it held could not be re-checked now ({e}); mesa retries within 30 s, else each AP's next event or a reconcile settles them")
                    }
                };
                let text = format!(
                    "✅ {} released the maintenance hold on site {} (set by {}); reverts apply again{rechecked}",
                    actor.label(),
                    site,
                    hold.actor,
                );
                state.chatops.notify.announce(
                    &site,
                    format!("✅ Maintenance hold on site {site} released"),
                    text.clone(),
                );
                Ok(Reply::channel(text))
            }
            None => Ok(Reply::ephemeral(format!("site {site} is not on hold"))),
        },
        ChatCommand::Apply { switch, port } => {
            Ok(confirm(state, actor, switch, &port, Profile::Ap))
        }
        ChatCommand::Revert { switch, port } => {
            Ok(confirm(state, actor, switch, &port, Profile::Secured))
        }
    }
}

/// `status [site | switch | ap-mac | switch port]`
async fn status(state: &AppState, args: &[String]) -> Result<String, StoreError> {
    let store = state.store.as_ref();
    let ports = store.ports().await?;
    let holds = maintenance::all_active(store).await?;
    let pending = store.journal_pending().await?;
    let now = crate::clock::now();
    Ok(match args {
        [] => render::overview(&ports, &holds, pending.len()),
        [switch, port] => match InterfaceName::parse(port) {
            Ok(port) => {
                let record = ports
                    .iter()
                    .find(|p| p.switch_name == *switch && p.port == port);
                render::port(switch, &port, record, &holds)
            }
            Err(e) => e.to_string(),
        },
        [target] => {
            if let Ok(mac) = Mac::parse(target) {
                let ap = store.ap(&mac).await?;
                render::ap(&mac, ap.as_ref(), &ports, &holds)
            } else if ports.iter().any(|p| p.site_id == *target)
                || holds.iter().any(|h| h.site_id == *target)
            {
                let decisions = store.recent_decisions(RECENT).await?;
                render::site(target, &ports, &holds, &pending, &decisions, now)
            } else if ports.iter().any(|p| p.switch_name == *target) {
                render::switch(target, &ports, &holds)
            } else {
                format!("mesa knows nothing about {target:?} (not a managed site, switch or AP)")
            }
        }
        _ => "usage: `/mesa status [site | switch | ap-mac | switch port]`".to_string(),
    })
}

/// `apply` / `revert`: nothing changes yet; the reply carries Confirm / Cancel buttons whose
/// value is sealed for this user, port and the next five minutes ([`super::confirm`]).
fn confirm(state: &AppState, actor: &Actor, switch: String, port: &str, profile: Profile) -> Reply {
    let port = match InterfaceName::parse(port) {
        Ok(port) => port,
        Err(e) => return Reply::ephemeral(e.to_string()),
    };
    let chatops = &state.config.chatops;
    let key = match actor.platform {
        super::Platform::Slack => super::slack::seal_key(chatops),
        super::Platform::Mattermost => chatops
            .mattermost
            .action_secret
            .as_ref()
            .filter(|_| chatops.mattermost.actions_url.is_some()),
    };
    let Some(key) = key else {
        return Reply::ephemeral(
            "apply and revert need Confirm buttons: set chatops.mattermost.action_secret and actions_url",
        );
    };
    let pending = super::confirm::PendingChange {
        profile,
        switch,
        port,
        user_id: actor.user_id.clone(),
        expires: crate::clock::now().timestamp() + super::confirm::VALID_FOR_SECS,
    };
    let Some(sealed) = super::confirm::seal(key.expose().as_bytes(), &pending) else {
        return Reply::ephemeral("switch names cannot contain `|`");
    };
    let question = format!(
        "Set `{} {}` to the {} profile? This changes the switch now.",
        pending.switch, pending.port, profile
    );
    match (actor.platform, &chatops.mattermost.actions_url) {
        (super::Platform::Mattermost, Some(url)) => Reply {
            text: String::new(),
            in_channel: false,
            blocks: None,
            attachments: Some(render::confirm_attachments(&question, &sealed, url)),
        },
        _ => Reply {
            text: question.clone(),
            in_channel: false,
            blocks: Some(render::confirm_blocks(&question, &sealed)),
            attachments: None,
        },
    }
}
