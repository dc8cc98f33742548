//! The `/mesa` command language, shared by Slack and Mattermost: the text after `/mesa` is
//! parsed into a [`ChatCommand`], each of which needs a [`Role`].

use std::time::Duration;

use super::roles::Role;
use crate::maintenance;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand {
    /// `status [site | switch | ap-mac | switch port]`
    Status(Vec<String>),
    /// `why <ap-mac | switch port>`
    Why(Vec<String>),
    Pending,
    /// `hold <site> [for 2h] [reason]`
    Hold {
        site: String,
        lasts: Option<Duration>,
        reason: Option<String>,
    },
    Release {
        site: String,
    },
    Apply {
        switch: String,
        port: String,
    },
    Revert {
        switch: String,
        port: String,
    },
    Help,
}

impl ChatCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ChatCommand::Status(_) => "status",
            ChatCommand::Why(_) => "why",
            ChatCommand::Pending => "pending",
            ChatCommand::Hold { .. } => "hold",
            ChatCommand::Release { .. } => "release",
            ChatCommand::Apply { .. } => "apply",
            ChatCommand::Revert { .. } => "revert",
            ChatCommand::Help => "help",
        }
    }

    pub fn needs(&self) -> Role {
        match self {
            ChatCommand::Status(_)
            | ChatCommand::Why(_)
            | ChatCommand::Pending
            | ChatCommand::Help => Role::Viewer,
            ChatCommand::Hold { .. } | ChatCommand::Release { .. } => Role::Operator,
            ChatCommand::Apply { .. } | ChatCommand::Revert { .. } => Role::Admin,
        }
    }
}

/// A command mesa could not read; the text says how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// One line for autocompletion (Slack `usage_hint`, Mattermost `auto_complete_hint`).
pub const HINT: &str = "status | why | pending | hold | release | apply | revert | help";

pub const HELP: &str = "\
`/mesa status [site | switch | ap-mac | switch port]`: what mesa manages there, holds, pending events
`/mesa why <ap-mac | switch port>`: the last decisions with their guard verdicts
`/mesa pending`: events waiting in the journal
`/mesa hold <site> [for 2h] [reason]`: no reverts on that site until released or expired (operator)
`/mesa release <site>`: end a hold (operator)
`/mesa apply <switch> <port>` / `/mesa revert <switch> <port>`: set the AP / secured profile (admin)
`/mesa help`: this text";

pub fn parse(text: &str) -> Result<ChatCommand, Usage> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((verb, args)) = words.split_first() else {
        return Ok(ChatCommand::Help);
    };
    let owned = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match verb.to_ascii_lowercase().as_str() {
        "help" => Ok(ChatCommand::Help),
        "status" => Ok(ChatCommand::Status(owned(args))),
        "pending" => Ok(ChatCommand::Pending),
        "why" if (1..=2).contains(&args.len()) => Ok(ChatCommand::Why(owned(args))),
        "why" => Err(Usage("usage: `/mesa why <ap-mac | switch port>`".into())),
        "hold" => hold(args),
        "release" if args.len() == 1 => Ok(ChatCommand::Release {
            site: args[0].to_string(),
        }),
        "release" => Err(Usage("usage: `/mesa release <site>`".into())),
        "apply" | "revert" if args.len() == 2 => {
            let (switch, port) = (args[0].to_string(), args[1].to_string());
            Ok(if verb.eq_ignore_ascii_case("apply") {
                ChatCommand::Apply { switch, port }
            } else {
                ChatCommand::Revert { switch, port }
            })
        }
        "apply" | "revert" => Err(Usage(format!(
            "usage: `/mesa {} <switch> <port>`",
            verb.to_ascii_lowercase()
        ))),
        _ => Err(Usage(format!(
            "unknown command {:?}; `/mesa help` lists them",
            verb.chars().take(30).collect::<String>()
        ))),
    }
}

/// `hold <site> [for <duration>] [reason...]`
fn hold(args: &[&str]) -> Result<ChatCommand, Usage> {
    let usage = || Usage("usage: `/mesa hold <site> [for 2h] [reason]`".into());
    let (site, rest) = args.split_first().ok_or_else(usage)?;
    let (lasts, reason_words) = match rest {
        [word, duration, reason @ ..] if word.eq_ignore_ascii_case("for") => (
            Some(maintenance::parse_duration(duration).map_err(|e| Usage(e.to_string()))?),
            reason,
        ),
        [word] if word.eq_ignore_ascii_case("for") => return Err(usage()),
        reason => (None, reason),
    };
    let reason = reason_words.join(" ");
    Ok(ChatCommand::Hold {
        site: site.to_string(),
        lasts,
        reason: (!reason.is_empty()).then_some(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_with_duration_and_reason() {
        assert_eq!(
            parse("hold site-1 for 2h uplink swap").unwrap(),
            ChatCommand::Hold {
                site: "site-1".into(),
                lasts: Some(Duration::from_secs(7200)),
                reason: Some("uplink swap".into()),
            }
        );
        assert_eq!(
            parse("hold site-1").unwrap(),
            ChatCommand::Hold {
                site: "site-1".into(),
                lasts: None,
                reason: None
            }
        );
        assert!(parse("hold site-1 for soon").is_err());
        assert!(parse("hold").is_err());
    }

    #[test]
    fn roles_and_errors() {
        assert_eq!(parse("").unwrap(), ChatCommand::Help);
        assert_eq!(parse("revert sw1 ge-0/0/1").unwrap().needs(), Role::Admin);
        assert_eq!(parse("release s").unwrap().needs(), Role::Operator);
        assert_eq!(parse("status").unwrap().needs(), Role::Viewer);
        assert!(parse("reboot everything").is_err());
        assert!(parse("revert sw1").is_err());
    }
}
