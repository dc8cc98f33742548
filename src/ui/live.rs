//! `GET /ui/live`: server-sent events from the decision feed
//! ([`crate::notify::feed::DecisionFeed`]). Each decision is sent as the timeline entry the
//! pages render (event `decision`, id = the event id); the page script prepends it and
//! refreshes what it shows. A listener that falls behind gets `lagged` and refreshes whole.
//! The stream ends when mesa is asked to stop, so an open page never holds up the drain.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use super::pages::entry;
use super::session::{self, Access};
use crate::http::AppState;
use crate::model::Decision;

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// SIGTERM or Ctrl-C, as `http::serve` listens for them (every listener is told).
fn stop_requested() -> Stop {
    Box::pin(async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = terminate => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
}

struct Listener {
    rx: broadcast::Receiver<Arc<Decision>>,
    access: Access,
    stop: Stop,
}

async fn next(mut l: Listener) -> Option<(Result<Event, Infallible>, Listener)> {
    let event = tokio::select! {
        _ = &mut l.stop => return None,
        got = l.rx.recv() => match got {
            Ok(d) => Event::default()
                .event("decision")
                .id(d.event.id.clone())
                .data(entry::render(&d, &l.access).into_string()),
            Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        },
    };
    Some((Ok(event), l))
}

pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let access = match session::check(&state, &headers) {
        Ok(access) => access,
        Err(refused) => return refused.into_response(),
    };
    let listener = Listener {
        rx: state.chatops.notify.feed().subscribe(),
        access,
        stop: stop_requested(),
    };
    let hello = stream::once(async { Ok(Event::default().event("hello").data("live")) });
    Sse::new(hello.chain(stream::unfold(listener, next)))
        .keep_alive(KeepAlive::default())
        .into_response()
}
