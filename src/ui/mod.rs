//! The status page at `/ui/`: sites, switches and ports coloured by what they are, and the
//! decisions behind them, served by mesa itself on the same listener (and TLS).
//!
//! - [`session`]: login with the token, the session cookie, logout, the access check;
//! - [`csrf`]: the per-session token every form carries;
//! - [`view`]: what a port is now (AP / secured / held / failed / not managed), from the store;
//! - [`layout`]: the page chrome; [`pages`]: the pages themselves;
//! - [`live`]: server-sent events from the decision feed, so pages update without reload;
//! - [`actions`]: hold / release a site, retry a failed decision (admin, CSRF-checked);
//! - [`assets`]: the CSS and JavaScript, embedded in the binary.

pub mod actions;
pub mod assets;
pub mod csrf;
pub mod layout;
pub mod live;
pub mod pages;
pub mod session;
pub mod view;

use axum::http::{header, HeaderValue};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub use session::Sessions;

/// Adds the `/ui/` routes and the `/` redirect to the router.
pub fn routes(app: Router<AppState>) -> Router<AppState> {
    let ui = Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview::page))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/sites/{site}", get(pages::site::page))
        .route("/ui/decisions", get(pages::decisions::page))
        .route("/ui/port", get(pages::port::port_page))
        .route("/ui/ap/{mac}", get(pages::port::ap_page))
        .route("/ui/live", get(live::events))
        .route("/ui/sites/{site}/hold", post(actions::hold))
        .route("/ui/sites/{site}/release", post(actions::release))
        .route("/ui/decisions/retry", post(actions::retry))
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(harden));
    app.merge(ui)
}

/// Only our own script and stylesheet run, no page is framed (the action buttons cannot be
/// clickjacked) and pages with the store's data are not cached.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Duration};

    #[test]
    fn config_keeps_the_status_page_paths_and_a_real_session_ttl() {
        for path in ["/", "/ui", "/ui/hook"] {
            let mut config = Config::default();
            config.server.webhook_path = path.into();
            let e = config.validate().expect_err(path);
            assert_eq!(e.key, "server.webhook_path");
        }
        let mut config = Config::default();
        config.ui.session_ttl = Duration::from_secs(0);
        assert_eq!(config.validate().unwrap_err().key, "ui.session_ttl");
        assert!(Config::default().validate().is_ok());
    }
}
