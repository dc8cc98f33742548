//! Login to the status page. `POST /ui/login` with the form field `token` (`ui.token`, else
//! `server.api_token`) starts a session: a random id in an HttpOnly, SameSite=Strict cookie
//! (Secure when mesa serves TLS), held in memory until `ui.session_ttl` or logout. A restart
//! logs everyone out, which is the safe side. Without any token configured the pages are open
//! and read-only: there is nobody to trust with an action.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dashmap::DashMap;
use rand::RngCore;
use serde::Deserialize;

use crate::config::{Config, Secret};
use crate::http::AppState;
use crate::ingest::same_secret;

pub const COOKIE: &str = "mesa_session";

/// Live sessions of this process, by id.
#[derive(Clone, Default)]
pub struct Sessions {
    live: Arc<DashMap<String, Session>>,
}

#[derive(Clone)]
struct Session {
    expires: Instant,
    csrf: String,
}

/// What the request may see and do.
#[derive(Debug, Clone)]
pub struct Access {
    /// The session's CSRF token: forms carry it. None without a session (open pages).
    pub csrf: Option<String>,
    /// Actions allowed: with `ui.actions`, the token holder is the admin (no chat user
    /// maps to a browser, so the chat roles cannot apply).
    pub admin: bool,
}

impl Access {
    /// Logged in (a token is configured and the session is valid).
    pub fn signed_in(&self) -> bool {
        self.csrf.is_some()
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    fn start(&self, ttl: Duration) -> String {
        let now = Instant::now();
        self.live.retain(|_, s| s.expires > now);
        let id = random_hex();
        self.live.insert(
            id.clone(),
            Session {
                expires: now + ttl,
                csrf: random_hex(),
            },
        );
        id
    }

    fn find(&self, id: &str) -> Option<Session> {
        let session = self.live.get(id)?.clone();
        if session.expires > Instant::now() {
            Some(session)
        } else {
            self.live.remove(id);
            None
        }
    }

    fn end(&self, id: &str) {
        self.live.remove(id);
    }
}

/// Why a request gets no page or no action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No valid session: 303 to the login form.
    NoSession,
    /// A form without this session's CSRF token: 403.
    Csrf,
    /// An action without the admin role: 403.
    NotAdmin,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (title, detail) = match self {
            Refused::NoSession => return Redirect::to("/ui/login").into_response(),
            Refused::Csrf => (
                "Form refused",
                "The form's CSRF token is missing or stale: reload the page and try again.",
            ),
            Refused::NotAdmin => ("Not allowed", "Actions need an admin session."),
        };
        (StatusCode::FORBIDDEN, super::layout::problem(title, detail)).into_response()
    }
}

/// The token that opens the UI, if any.
pub fn token(config: &Config) -> Option<&Secret> {
    config
        .ui
        .token
        .as_ref()
        .or(config.server.api_token.as_ref())
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The request's access, or why not.
pub fn check(state: &AppState, headers: &HeaderMap) -> Result<Access, Refused> {
    if token(&state.config).is_none() {
        return Ok(Access {
            csrf: None,
            admin: false,
        });
    }
    cookie_value(headers, COOKIE)
        .and_then(|id| state.ui.find(id))
        .map(|session| Access {
            csrf: Some(session.csrf),
            admin: state.config.ui.actions,
        })
        .ok_or(Refused::NoSession)
}

/// The session id of the request, valid or not (for logout).
fn session_id(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers, COOKIE)
}

fn secure(config: &Config) -> bool {
    config.server.tls_cert.is_some() && config.server.tls_key.is_some()
}

fn set_cookie(config: &Config, value: &str, max_age: u64) -> HeaderValue {
    let secure = if secure(config) { "; Secure" } else { "" };
    let text =
        format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("mesa_session=; Path=/ui; Max-Age=0"))
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    let open = token(&state.config).is_none();
    super::layout::login(None, open).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(expected) = token(&state.config) else {
        // Nothing to log in to: the pages are open.
        return Redirect::to("/ui/").into_response();
    };
    if form.token.is_empty() || !same_secret(&form.token, expected.expose()) {
        tracing::warn!("status page login refused: wrong token");
        return (
            StatusCode::UNAUTHORIZED,
            super::layout::login(Some("That token is not the one mesa expects."), false),
        )
            .into_response();
    }
    let ttl = state.config.ui.session_ttl.get();
    let id = state.ui.start(ttl);
    tracing::info!("status page login");
    let mut response = Redirect::to("/ui/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&state.config, &id, ttl.as_secs()),
    );
    response
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (CSRF-checked: a foreign page must not log people out either).
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let access = match check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = super::csrf::verify(&access, &form.csrf) {
        return refused.into_response();
    }
    if let Some(id) = session_id(&headers) {
        state.ui.end(id);
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state.config, "", 0));
    response
}
