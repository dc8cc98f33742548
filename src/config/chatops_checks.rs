//! The `[chatops]` checks types cannot express, so a Slack setup that cannot work stops mesa
//! at start with the key and the reason instead of refusing users later.

use super::{Config, ConfigError};

/// Slack waits 3 s for a slash command's acknowledgement.
const SLACK_ACK_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Mattermost waits `ServiceSettings.OutgoingIntegrationRequestsTimeout`, 30 s by default.
const MATTERMOST_ACK_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Config {
    pub(super) fn validate_chatops(&self) -> Result<(), ConfigError> {
        let slack = &self.chatops.slack;
        if !(slack.api_url.starts_with("https://") || slack.api_url.starts_with("http://")) {
            return Err(self.err(
                "chatops.slack.api_url",
                "expected an http(s) URL like https://slack.com/api",
            ));
        }
        if slack.ack_within.get() >= SLACK_ACK_LIMIT {
            return Err(self.err(
                "chatops.slack.ack_within",
                "must be below 3s (Slack drops a slash command not acknowledged within 3 s)",
            ));
        }
        if self.chatops.mattermost.ack_within.get() >= MATTERMOST_ACK_LIMIT {
            return Err(self.err(
                "chatops.mattermost.ack_within",
                "must be below 30s (Mattermost drops a slash command not answered within its \
                 OutgoingIntegrationRequestsTimeout, 30 s by default)",
            ));
        }
        let roles = &self.chatops.roles;
        let group = roles
            .admin
            .iter()
            .chain(&roles.operator)
            .chain(&roles.viewer)
            .find(|e| crate::chatops::groups::is_slack_group(e));
        if let (Some(group), None) = (group, &slack.bot_token) {
            return Err(self.err(
                "chatops.slack.bot_token",
                format!(
                    "[chatops.roles] names the Slack user group {group}; its members can only be \
                     read with a bot token (usergroups:read)"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_group_needs_a_bot_token_and_acks_stay_under_3s() {
        let mut config = Config::default();
        assert!(config.validate_chatops().is_ok());
        config.chatops.roles.operator.push("S0604QSJC".into());
        let e = config.validate_chatops().unwrap_err().to_string();
        assert!(
            e.contains("chatops.slack.bot_token") && e.contains("S0604QSJC"),
            "{e}"
        );
        config.chatops.slack.bot_token = Some(super::super::Secret::new("xoxb-1"));
        assert!(config.validate_chatops().is_ok());
        config.chatops.slack.ack_within = super::super::Duration::from_secs(3);
        let e = config.validate_chatops().unwrap_err().to_string();
        assert!(e.contains("chatops.slack.ack_within"), "{e}");
        config.chatops.slack.ack_within = super::super::Duration::from_secs(2);
        config.chatops.mattermost.ack_within = super::super::Duration::from_secs(30);
        let e = config.validate_chatops().unwrap_err().to_string();
        assert!(e.contains("chatops.mattermost.ack_within"), "{e}");
    }
}
