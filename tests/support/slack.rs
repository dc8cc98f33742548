//! A fake Slack on `127.0.0.1:0`, shaped from Slack's Web API and Socket Mode docs:
//! - `GET /usergroups.users.list?usergroup=S…` with `Authorization: Bearer <bot token>`
//!   answers `{"ok":true,"users":[…]}` (`{"ok":false,"error":"no_such_subteam"}`,
//!   `"invalid_auth"` otherwise);
//! - `POST /apps.connections.open` with the app-level token answers
//!   `{"ok":true,"url":"ws://…/link"}`;
//! - the WebSocket at `/link` greets with `{"type":"hello",…}`, sends what the test pushes
//!   (envelopes, `disconnect`), and records every frame mesa sends (acks);
//! - `POST /response/<n>` records what is posted to a `response_url`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub const BOT_TOKEN: &str = "xoxb-fake-bot-token";
pub const APP_TOKEN: &str = "xapp-1-fake-app-token";

const CUT: &[u8] = b"cut";

#[derive(Default)]
struct State_ {
    groups: HashMap<String, Vec<String>>,
    group_calls: u32,
    /// How long `usergroups.users.list` takes to answer.
    group_delay: std::time::Duration,
    opens: u32,
    /// Frames mesa sent over Socket Mode, in order.
    received: Vec<Value>,
    /// Bodies posted to each response_url.
    responses: HashMap<String, Vec<Value>>,
    /// The open socket's sender (the newest connection).
    socket: Option<mpsc::UnboundedSender<Message>>,
    connections: u32,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State_>>,
    ws_addr: SocketAddr,
}

pub struct FakeSlack {
    pub addr: SocketAddr,
    shared: Shared,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn users_list(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let delay = shared.state.lock().unwrap().group_delay;
    tokio::time::sleep(delay).await;
    let mut state = shared.state.lock().unwrap();
    state.group_calls += 1;
    if bearer(&headers) != Some(BOT_TOKEN) {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    match query.get("usergroup").and_then(|g| state.groups.get(g)) {
        Some(users) => Json(json!({"ok": true, "users": users})),
        None => Json(json!({"ok": false, "error": "no_such_subteam"})),
    }
}

async fn connections_open(State(shared): State<Shared>, headers: HeaderMap) -> Json<Value> {
    let mut state = shared.state.lock().unwrap();
    state.opens += 1;
    if bearer(&headers) != Some(APP_TOKEN) {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    Json(json!({"ok": true, "url": format!("ws://{}/link?ticket={}", shared.ws_addr, state.opens)}))
}

async fn response_url(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let mut state = shared.state.lock().unwrap();
    let replies = state.responses.entry(id).or_default();
    // Slack's limit: five replies per response_url.
    if replies.len() >= 5 {
        return StatusCode::NOT_FOUND;
    }
    replies.push(body);
    StatusCode::OK
}

async fn socket(shared: Shared, stream: tokio::net::TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    {
        let mut state = shared.state.lock().unwrap();
        state.connections += 1;
        state.socket = Some(tx.clone());
    }
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0FAKEAPP"}
    });
    let _ = tx.send(Message::text(hello.to_string()));
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Message::Close(_)) | None => { let _ = sink.close().await; return; }
                // `cut`: the socket is dropped without a close frame, as a dead path would.
                Some(Message::Binary(b)) if b.as_ref() == CUT => return,
                Some(frame) => if sink.send(frame).await.is_err() { return; },
            },
            frame = source.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(value) = serde_json::from_str(text.as_str()) {
                        shared.state.lock().unwrap().received.push(value);
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = sink.send(Message::Pong(p)).await; }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Shared {
            state: Arc::default(),
            ws_addr: ws.local_addr().unwrap(),
        };
        let addr = http.local_addr().unwrap();
        let app = Router::new()
            .route("/usergroups.users.list", get(users_list))
            .route("/apps.connections.open", post(connections_open))
            .route("/response/{id}", post(response_url))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        let accepting = shared.clone();
        let sockets = tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                tokio::spawn(socket(accepting.clone(), stream));
            }
        });
        FakeSlack {
            addr,
            shared,
            tasks: vec![server, sockets],
        }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/response/{id}", self.addr)
    }

    pub fn set_group(&self, group: &str, users: &[&str]) {
        let users = users.iter().map(|u| u.to_string()).collect();
        self.shared
            .state
            .lock()
            .unwrap()
            .groups
            .insert(group.into(), users);
    }

    pub fn set_group_delay(&self, delay: std::time::Duration) {
        self.shared.state.lock().unwrap().group_delay = delay;
    }

    pub fn group_calls(&self) -> u32 {
        self.shared.state.lock().unwrap().group_calls
    }

    pub fn opens(&self) -> u32 {
        self.shared.state.lock().unwrap().opens
    }

    pub fn connections(&self) -> u32 {
        self.shared.state.lock().unwrap().connections
    }

    pub fn responses(&self, id: &str) -> Vec<Value> {
        let state = self.shared.state.lock().unwrap();
        state.responses.get(id).cloned().unwrap_or_default()
    }

    /// Frames mesa sent over Socket Mode.
    pub fn received(&self) -> Vec<Value> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// Sends a frame on the newest Socket Mode connection; false when none is open.
    pub fn push(&self, frame: Value) -> bool {
        let state = self.shared.state.lock().unwrap();
        state
            .socket
            .as_ref()
            .is_some_and(|tx| tx.send(Message::text(frame.to_string())).is_ok())
    }

    /// Drops the newest connection without a close frame (a network failure).
    pub fn cut(&self) -> bool {
        let state = self.shared.state.lock().unwrap();
        state
            .socket
            .as_ref()
            .is_some_and(|tx| tx.send(Message::binary(CUT)).is_ok())
    }

    /// Slack's warning before it closes a connection (`refresh_requested`), then the close.
    pub fn disconnect(&self) -> bool {
        let sent = self.push(json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-fake"}
        }));
        let state = self.shared.state.lock().unwrap();
        sent && state
            .socket
            .as_ref()
            .is_some_and(|tx| tx.send(Message::Close(None)).is_ok())
    }
}
