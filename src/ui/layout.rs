//! The chrome every page shares: skip link, navigation, logout, the live-update region
//! (announced to screen readers), the stylesheet and the script. Pages give a title and a
//! `main`; maud escapes every value put into the markup.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::session::Access;

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · mesa" }
            link rel="stylesheet" href="/ui/assets/ui.css";
            script src="/ui/assets/ui.js" defer {}
        }
    }
}

/// A page of the status UI for a signed-in (or open) viewer.
pub fn page(title: &str, access: &Access, main: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live="/ui/live" {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "mesa" }
                    nav aria-label="Main" {
                        a href="/ui/" { "Overview" }
                        a href="/ui/decisions" { "Decisions" }
                    }
                    span #live-state.live-state role="status" { "live updates: connecting" }
                    @if let Some(csrf) = &access.csrf {
                        form.logout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                div #live.live aria-live="polite" {}
                main #main tabindex="-1" {
                    h1 { (title) }
                    (main)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// The login form; `error` after a refused token.
pub fn login(error: Option<&str>, open: bool) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main #main {
                    h1 { "mesa status" }
                    @if open {
                        p { "No token is configured: the pages are open. " a href="/ui/" { "Go to the overview" } }
                    } @else {
                        @if let Some(error) = error {
                            p.error role="alert" { (error) }
                        }
                        form method="post" action="/ui/login" {
                            label for="token" { "API token" }
                            input #token type="password" name="token" autocomplete="current-password" required autofocus;
                            button type="submit" { "Log in" }
                        }
                    }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A short page saying why something was refused or failed.
pub fn problem(title: &str, detail: &str) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main #main {
                    h1 { (title) }
                    p role="alert" { (detail) }
                    p { a href="/ui/" { "Back to the overview" } }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// `2026-12-02 11:05:03 UTC`
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
