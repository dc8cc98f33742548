//! Who may do what from the chat: `viewer` (status, why, pending, help), `operator`
//! (+ hold, release), `admin` (+ apply, revert). Users are listed by their platform user id
//! in `[chatops.roles]`; anyone else is a viewer or refused (`chatops.unknown_users`).

use std::fmt;

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
pub fn of(config: &ChatopsConfig, user_id: &str) -> Option<Role> {
    let roles = &config.roles;
    let listed = |ids: &[String]| ids.iter().any(|id| id == user_id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_listed_role_wins_and_unknown_users_follow_the_setting() {
        let mut config = ChatopsConfig::default();
        config.roles.admin = vec!["U1".into()];
        config.roles.operator = vec!["U1".into(), "U2".into()];
        assert_eq!(of(&config, "U1"), Some(Role::Admin));
        assert_eq!(of(&config, "U2"), Some(Role::Operator));
        assert_eq!(of(&config, "U9"), Some(Role::Viewer));
        config.unknown_users = UnknownUsers::Deny;
        assert_eq!(of(&config, "U9"), None);
    }
}
