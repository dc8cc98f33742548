//! Slack user groups in `[chatops.roles]`. A slash command names the user, team and channel
//! but never the user's groups, so membership of a group (`S…`) is asked from Slack's Web API
//! (`usergroups.users.list`, bot token with `usergroups:read`) and kept for
//! `chatops.slack.groups_ttl`. When Slack cannot be asked, the last known members are used;
//! with none known, the user is not a member (the safe side: write commands stay refused).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use serde::Deserialize;

use crate::config::ChatopsConfig;

/// Slack answers in well under a second; the slash command has 3 s in all.
const ASK_WITHIN: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("chatops.slack.bot_token is not set")]
    NoToken,
    #[error("Slack API unreachable: {0}")]
    Http(String),
    #[error("Slack API refused: {0}")]
    Slack(String),
}

/// `usergroups.users.list`'s answer.
#[derive(Debug, Deserialize)]
struct UsersList {
    ok: bool,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    error: Option<String>,
}

/// A role entry that names a Slack user group rather than a user, team or channel.
pub fn is_slack_group(entry: &str) -> bool {
    entry.len() >= 7
        && entry.starts_with('S')
        && entry
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

type Members = Arc<HashSet<String>>;

#[derive(Clone, Default)]
pub struct SlackGroups {
    http: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, (Instant, Members)>>>,
}

impl SlackGroups {
    /// The user groups named in `[chatops.roles]` that `user_id` is a member of.
    pub async fn of_user(&self, config: &ChatopsConfig, user_id: &str) -> HashSet<String> {
        let roles = &config.roles;
        let groups: HashSet<&String> = roles
            .admin
            .iter()
            .chain(&roles.operator)
            .chain(&roles.viewer)
            .filter(|e| is_slack_group(e))
            .collect();
        let mut member_of = HashSet::new();
        for group in groups {
            if self
                .members(config, group)
                .await
                .is_some_and(|m| m.contains(user_id))
            {
                member_of.insert(group.clone());
            }
        }
        member_of
    }

    /// The members of `group`: cached while fresh, else asked; the stale list when Slack
    /// fails; None when nothing is known.
    pub async fn members(&self, config: &ChatopsConfig, group: &str) -> Option<Members> {
        let ttl = config.slack.groups_ttl.get();
        let cached = self.cache.lock().ok()?.get(group).cloned();
        if let Some((at, members)) = &cached {
            if at.elapsed() < ttl {
                return Some(members.clone());
            }
        }
        match self.ask(config, group).await {
            Ok(members) => {
                let members: Members = Arc::new(members);
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(group.to_string(), (Instant::now(), members.clone()));
                }
                Some(members)
            }
            Err(e) => {
                tracing::warn!(group, error = %e, stale = cached.is_some(), "Slack user group members not read; last known members used");
                cached.map(|(_, members)| members)
            }
        }
    }

    async fn ask(
        &self,
        config: &ChatopsConfig,
        group: &str,
    ) -> Result<HashSet<String>, GroupError> {
        let token = config.slack.bot_token.as_ref().ok_or(GroupError::NoToken)?;
        let url = format!(
            "{}/usergroups.users.list",
            config.slack.api_url.trim_end_matches('/')
        );
        let response = self
            .http
            .get(&url)
            .query(&[("usergroup", group)])
            .bearer_auth(token.expose())
            .timeout(ASK_WITHIN)
            .send()
            .await
            .map_err(|e| GroupError::Http(e.without_url().to_string()))?;
        let status = response.status();
        let list: UsersList = response
            .json()
            .await
            .map_err(|e| GroupError::Http(format!("HTTP {status}: {}", e.without_url())))?;
        if !list.ok {
            return Err(GroupError::Slack(
                list.error.unwrap_or_else(|| format!("HTTP {status}")),
            ));
        }
        Ok(list.users.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_group_ids_are_told_from_users_and_mattermost_ids() {
        assert!(is_slack_group("S0604QSJC"));
        assert!(!is_slack_group("U060R4BJ4"));
        assert!(!is_slack_group("T0001"));
        // Mattermost ids are 26 lowercase characters.
        assert!(!is_slack_group("s8w7foap4ufrsfczda8uez51yx"));
    }
}
