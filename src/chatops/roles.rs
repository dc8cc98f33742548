//! Who may do what from the chat: `viewer` (status, why, pending, help), `operator`
//! (+ hold, release), `admin` (+ apply, revert). Users are listed by their platform user id
//! in `[chatops.roles]`, or by a group they are in ([`super::groups`], or the team or
//! channel the command was sent from); anyone else is a viewer or refused
//! (`chatops.unknown_users`).

use std::fmt;

use super::{Actor, Platform};
use crate::config::{ChatopsConfig, UnknownUsers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The user's role; None when unknown users are refused and this one is not listed.
/// `member` says whether the user belongs to a role entry that is not their own id (the
/// team or channel the command came from, a Slack user group).
pub fn of(config: &ChatopsConfig, user_id: &str, member: impl Fn(&str) -> bool) -> Option<Role> {
    let roles = &config.roles;
    let listed = |ids: &[String]| ids.iter().any(|id| id == user_id || member(id));
    if listed(&roles.admin) {
        Some(Role::Admin)
    } else if listed(&roles.operator) {
        Some(Role::Operator)
    } else if listed(&roles.viewer) {
        Some(Role::Viewer)
    } else {
        match config.unknown_users {
            UnknownUsers::Viewer => Some(Role::Viewer),
            UnknownUsers::Deny => None,
        }
    }
}

/// The actor's role, with the places the request came from and (Slack) the user groups
/// named in `[chatops.roles]` they are a member of.
pub async fn resolve(
    chatops: &super::ChatOps,
    config: &ChatopsConfig,
    actor: &Actor,
) -> Option<Role> {
    let groups = match actor.platform {
        Platform::Slack => chatops.groups.of_user(config, &actor.user_id).await,
        Platform::Mattermost => Default::default(),
    };
    of(config, &actor.user_id, |id| {
        groups.contains(id) || actor.places.iter().any(|p| p == id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_listed_role_wins_and_unknown_users_follow_the_setting() {
        let mut config = ChatopsConfig::default();
        config.roles.admin = vec!["U1".into()];
        config.roles.operator = vec!["U1".into(), "U2".into()];
        let nobody = |_: &str| false;
        assert_eq!(of(&config, "U1", nobody), Some(Role::Admin));
        assert_eq!(of(&config, "U2", nobody), Some(Role::Operator));
        assert_eq!(of(&config, "U9", nobody), Some(Role::Viewer));
        config.unknown_users = UnknownUsers::Deny;
        assert_eq!(of(&config, "U9", nobody), None);
        config.roles.operator.push("S0604QSJC".into());
        assert_eq!(
            of(&config, "U9", |g| g == "S0604QSJC"),
            Some(Role::Operator)
        );
    }
}
