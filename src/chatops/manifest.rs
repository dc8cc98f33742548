//! `mesa chatops manifest`: what an admin installs so that `/mesa` reaches this mesa: the
//! Slack app manifest (JSON, pasted at api.slack.com/apps → Create New App → From a
//! manifest), or the Mattermost slash command (an `mmctl` line and the REST body).

use super::command::HINT;

/// The slash command and the interactivity URL (Confirm buttons); the signing secret of the created app goes to
/// `chatops.slack.signing_secret`.
pub fn slack(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let manifest = serde_json::json!({
        "display_information": {
            "name": "mesa",
            "description": "Ask mesa about AP switchports and put sites on maintenance hold",
        },
        "features": {
            "bot_user": { "display_name": "mesa", "always_online": false },
            "slash_commands": [{
                "command": "/mesa",
                "url": format!("{base}/chatops/slack/commands"),
                "description": "Ask mesa and steer it",
                "usage_hint": HINT,
                "should_escape": false,
            }],
        },
        "oauth_config": { "scopes": { "bot": BOT_SCOPES } },
        "settings": {
            "interactivity": {
                "is_enabled": true,
                "request_url": format!("{base}/chatops/slack/interactions"),
            },
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    });
    serde_json::to_string_pretty(&manifest).unwrap_or_default()
}

/// `commands` for `/mesa`; `usergroups:read` lets the bot token resolve user groups named in
/// `[chatops.roles]`.
const BOT_SCOPES: [&str; 2] = ["commands", "usergroups:read"];

/// The same app reached over Socket Mode: no URLs; an app-level token with
/// `connections:write` (created under Basic Information → App-Level Tokens) goes to
/// `chatops.slack.app_token`.
pub fn slack_socket_mode() -> String {
    let manifest = serde_json::json!({
        "display_information": {
            "name": "mesa",
            "description": "Ask mesa about AP switchports and put sites on maintenance hold",
        },
        "features": {
            "bot_user": { "display_name": "mesa", "always_online": false },
            "slash_commands": [{
                "command": "/mesa",
                "description": "Ask mesa and steer it",
                "usage_hint": HINT,
                "should_escape": false,
            }],
        },
        "oauth_config": { "scopes": { "bot": BOT_SCOPES } },
        "settings": {
            "interactivity": { "is_enabled": true },
            "org_deploy_enabled": false,
            "socket_mode_enabled": true,
            "token_rotation_enabled": false,
        },
    });
    serde_json::to_string_pretty(&manifest).unwrap_or_default()
}

/// The command's token (shown by Mattermost once created) goes to
/// `chatops.mattermost.command_token`.
pub fn mattermost(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}/chatops/mattermost/commands");
    let body = serde_json::json!({
        "team_id": "<team id>",
        "trigger": "mesa",
        "method": "P",
        "url": url,
        "display_name": "mesa",
        "description": "Ask mesa and steer it",
        "auto_complete": true,
        "auto_complete_desc": "Ask mesa and steer it",
        "auto_complete_hint": HINT,
        "username": "mesa",
    });
    format!(
        "# With mmctl (as a system admin):\n\
         mmctl command create <team> --title mesa --trigger-word mesa --url {url} \\\n  \
         --creator <admin user> --post --autocomplete --autocomplete-hint '{HINT}' \\\n  \
         --description 'Ask mesa and steer it'\n\n\
         # Or POST /api/v4/commands with:\n{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    )
}
