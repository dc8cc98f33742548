//! ChatOps: ask mesa and steer it from Slack and Mattermost with `/mesa ...`. Each platform
//! module ([`slack`], [`mattermost`]) authenticates the request (signature or token, in
//! constant time) and reads the form; [`command`] parses the text; [`roles`] says whether
//! the user may run it; [`run`] runs it against the store and [`render`] words the reply.
//! `apply` / `revert` only offer a Confirm button ([`confirm`] seals its context); the
//! change runs when Slack posts the press to [`slack::interactions`].
//! Every command is audited (log line with the actor, `mesa_chatops_commands_total`).

pub mod command;
pub mod confirm;
pub mod groups;
pub mod manifest;
pub mod mattermost;
pub mod render;
pub mod replay;
pub mod respond;
pub mod roles;
pub mod run;
pub mod slack;
pub mod socket_mode;

use axum::routing::post;
use axum::Router;

use crate::engine::Engine;
use crate::http::AppState;
use crate::notify::Notifications;

/// What the chat handlers share beyond [`AppState`]'s store and config.
#[derive(Clone)]
pub struct ChatOps {
    pub notify: Notifications,
    /// Confirmed `apply` / `revert` changes run through it.
    pub engine: Engine,
    /// Slack signatures already seen within the replay window.
    pub replay: replay::ReplayGuard,
    /// Answers to Slack's `response_url`.
    pub http: reqwest::Client,
    /// Members of the Slack user groups named in `[chatops.roles]`.
    pub groups: groups::SlackGroups,
    /// Posts made to each Slack `response_url` (Slack takes five).
    pub responses: respond::ResponseUrls,
}

impl ChatOps {
    pub fn new(notify: Notifications, engine: Engine) -> ChatOps {
        ChatOps {
            notify,
            engine,
            replay: replay::ReplayGuard::default(),
            http: reqwest::Client::new(),
            groups: groups::SlackGroups::default(),
            responses: respond::ResponseUrls::default(),
        }
    }
}

/// The chat platforms, for the audit and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Slack,
    Mattermost,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Mattermost => "mattermost",
        }
    }
}

/// The person behind a command, as the platform names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub platform: Platform,
    pub user_id: String,
    pub user_name: Option<String>,
    /// Where the request came from: team, channel, Enterprise Grid org ids (role entries
    /// may name them).
    pub places: Vec<String>,
}

impl Actor {
    /// `slack:alice (U012AB3CD)`: recorded with holds and in the audit.
    pub fn label(&self) -> String {
        match &self.user_name {
            Some(name) => format!("{}:{name} ({})", self.platform.as_str(), self.user_id),
            None => format!("{}:{}", self.platform.as_str(), self.user_id),
        }
    }
}

/// A reply to the person who typed the command, or to the whole channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub in_channel: bool,
    /// Slack Block Kit blocks (the Confirm / Cancel buttons); `text` is their fallback.
    pub blocks: Option<serde_json::Value>,
    /// Mattermost message attachments (the same buttons).
    pub attachments: Option<serde_json::Value>,
}

impl Reply {
    pub fn ephemeral(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            in_channel: false,
            blocks: None,
            attachments: None,
        }
    }

    pub fn channel(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            in_channel: true,
            blocks: None,
            attachments: None,
        }
    }

    /// The body both Slack and Mattermost read from a slash command's response.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "response_type": if self.in_channel { "in_channel" } else { "ephemeral" },
            "text": self.text,
        });
        if let Some(blocks) = &self.blocks {
            body["blocks"] = blocks.clone();
        }
        if let Some(attachments) = &self.attachments {
            body["attachments"] = attachments.clone();
        }
        body
    }
}

/// The chat routes; each answers 404 while its platform is not configured.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/chatops/slack/commands", post(slack::commands))
        .route("/chatops/slack/interactions", post(slack::interactions))
        .route("/chatops/mattermost/commands", post(mattermost::commands))
        .route("/chatops/mattermost/actions", post(mattermost::actions))
}
