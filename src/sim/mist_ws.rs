//! A fake Mist WebSocket stream on `127.0.0.1:0`, for the tests and `mesa demo --stream`.
//!
//! It speaks what the real `api-ws` endpoint does, as documented by Juniper and seen in the
//! public clients (reference README): the handshake on `/api-ws/v1/stream` with
//! `Authorization: Token …` (401 otherwise); `{"subscribe": channel}` answered by
//! `{"event": "channel_subscribed", "channel"}` or `{"event": "subscribe_failed", "channel",
//! "detail"}`; data as `{"event": "data", "channel", "data"}` with `data` a JSON string on
//! stats channels and an object on others. AP stats carry no `site_id` and may be partial.
//!
//! Tests drive it explicitly: [`FakeMistStream::publish_ap_stats`] sends one stats message
//! per connected AP of a [`FakeMist`] world, [`FakeMistStream::drop_connections`] cuts every
//! connection without a close frame, [`FakeMistStream::stall_connections`] makes them go
//! quiet, [`FakeMistStream::fail_next_handshakes_with_429`] and
//! [`FakeMistStream::fail_subscribe`] inject faults. Frames published while nobody is
//! subscribed are lost, as on the real stream.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use super::mist::{ApStatus, FakeAp, FakeMist, ORG_ID};
use crate::mist::types::device_id;

pub const PATH: &str = "/api-ws/v1/stream";

/// What a connection task is told to do.
enum Out {
    Text(String),
    /// Drop the socket without a close frame, as a dead path or a load balancer would.
    Cut,
    /// Go quiet: read nothing, answer nothing (no pong), keep the socket open, as a path
    /// that died without either end noticing.
    Stall,
}

struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    channels: HashSet<String>,
}

#[derive(Default)]
struct WsState {
    conns: HashMap<u64, Conn>,
    next_id: u64,
    handshakes: u32,
    rate_limited: u32,
    failing: HashMap<String, String>,
    max_channels: Option<usize>,
    /// Every data frame sent, as (channel, payload), for assertions.
    sent: Vec<(String, Value)>,
}

struct Shared {
    token: String,
    state: Mutex<WsState>,
}

/// A running fake stream. Dropping it stops the server and every connection.
pub struct FakeMistStream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeMistStream {
    fn drop(&mut self) {
        self.server.abort();
        for conn in lock(&self.shared).conns.values() {
            let _ = conn.tx.send(Out::Cut);
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, WsState> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeMistStream {
    /// Starts with the token of `mist`, so one `[mist]` section serves both.
    pub async fn start_for(mist: &FakeMist) -> std::io::Result<FakeMistStream> {
        FakeMistStream::start(&mist.token()).await
    }

    pub async fn start(token: &str) -> std::io::Result<FakeMistStream> {
        let shared = Arc::new(Shared {
            token: token.to_string(),
            state: Mutex::new(WsState::default()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepting = shared.clone();
        let server = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                conns.spawn(serve(accepting.clone(), socket));
            }
        });
        Ok(FakeMistStream {
            addr,
            shared,
            server,
        })
    }

    /// `ws://127.0.0.1:<port>/api-ws/v1/stream`, for `ingest.stream.url`.
    pub fn url(&self) -> String {
        format!("ws://{}{PATH}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, WsState> {
        lock(&self.shared)
    }

    /// The next `n` handshakes are answered 429 (as after too many connection attempts).
    pub fn fail_next_handshakes_with_429(&self, n: u32) {
        self.state().rate_limited = n;
    }

    /// Subscriptions to `channel` are answered `subscribe_failed` with `detail`.
    pub fn fail_subscribe(&self, channel: &str, detail: &str) {
        self.state()
            .failing
            .insert(channel.to_string(), detail.to_string());
    }

    /// Subscriptions beyond `n` on one connection fail, like the real per-connection limit.
    pub fn set_max_channels_per_connection(&self, n: usize) {
        self.state().max_channels = Some(n);
    }

    /// Handshakes attempted, refused ones included.
    pub fn handshakes(&self) -> u32 {
        self.state().handshakes
    }

    pub fn connections(&self) -> usize {
        self.state().conns.len()
    }

    /// Channels subscribed on each open connection.
    pub fn channels_per_connection(&self) -> Vec<usize> {
        let mut counts: Vec<usize> = self
            .state()
            .conns
            .values()
            .map(|c| c.channels.len())
            .collect();
        counts.sort_unstable();
        counts
    }

    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.state()
            .conns
            .values()
            .any(|c| c.channels.contains(channel))
    }

    /// Waits until `channel` is subscribed on some connection.
    pub async fn wait_subscribed(&self, channel: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.is_subscribed(channel) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.is_subscribed(channel)
    }

    /// Cuts every open connection without a close frame.
    pub fn drop_connections(&self) {
        let mut state = self.state();
        for (_, conn) in state.conns.drain() {
            let _ = conn.tx.send(Out::Cut);
        }
    }

    /// Every open connection goes quiet without closing (see [`Out::Stall`]): only the
    /// client's pings can tell.
    pub fn stall_connections(&self) {
        let mut state = self.state();
        for (_, conn) in state.conns.drain() {
            let _ = conn.tx.send(Out::Stall);
        }
    }

    /// Sends `data` on `channel` to every subscriber, as a JSON string (`as_string`, the
    /// stats channels' way) or as an object. Returns how many connections got it.
    pub fn publish(&self, channel: &str, data: Value, as_string: bool) -> usize {
        let payload = if as_string {
            Value::String(data.to_string())
        } else {
            data.clone()
        };
        let frame = json!({"event": "data", "channel": channel, "data": payload}).to_string();
        let mut state = self.state();
        state.sent.push((channel.to_string(), data));
        state
            .conns
            .values()
            .filter(|c| c.channels.contains(channel))
            .filter(|c| c.tx.send(Out::Text(frame.clone())).is_ok())
            .count()
    }

    /// One stats message (`/sites/{site}/stats/devices`, data as a string) per connected
    /// AP of `mist`'s world, with its LLDP neighbour and the switch's MAC as `chassis_id`.
    /// Returns how many messages reached a subscriber.
    pub fn publish_ap_stats(&self, mist: &FakeMist) -> usize {
        self.publish_ap_stats_where(mist, |ap| ap.status == ApStatus::Connected)
    }

    /// Like [`FakeMistStream::publish_ap_stats`], for the APs `which` picks (an AP that
    /// stopped reporting while Mist still calls it connected, ...).
    pub fn publish_ap_stats_where(
        &self,
        mist: &FakeMist,
        which: impl Fn(&FakeAp) -> bool,
    ) -> usize {
        let messages: Vec<(String, Value)> = {
            let world = mist.state();
            world
                .aps
                .values()
                .filter(|ap| which(ap))
                .map(|ap| {
                    let chassis = ap.lldp.as_ref().and_then(|l| {
                        world
                            .switches
                            .values()
                            .find(|s| s.hostname == l.system_name)
                            .map(|s| s.mac.colon())
                    });
                    (site_channel(&ap.site_id), ap_stats(ap, chassis.as_deref()))
                })
                .collect()
        };
        messages
            .into_iter()
            .map(|(channel, data)| self.publish(&channel, data, true))
            .sum()
    }

    /// A partial stats message for one AP (no `model`, `type` or LLDP), as Mist sends too.
    pub fn publish_partial(&self, site_id: &str, ap_mac: &str, last_seen: f64) -> usize {
        self.publish(
            &site_channel(site_id),
            json!({"mac": ap_mac, "last_seen": last_seen, "uptime": 120}),
            true,
        )
    }

    /// Data frames sent so far (channel, decoded payload).
    pub fn sent(&self) -> Vec<(String, Value)> {
        self.state().sent.clone()
    }
}

/// `/sites/{site_id}/stats/devices`.
pub fn site_channel(site_id: &str) -> String {
    format!("/sites/{site_id}/stats/devices")
}

/// Schema `stats_ap` as the stream sends it: no `site_id`; `lldp_stat` per
/// `stats_ap_lldp_stat`.
fn ap_stats(ap: &FakeAp, chassis: Option<&str>) -> Value {
    let mut stat = json!({
        "id": device_id(&ap.mac),
        "mac": ap.mac.as_str(),
        "name": ap.name,
        "model": "AP43",
        "type": "ap",
        "org_id": ORG_ID,
        "status": "connected",
        // A connected AP's stats are fresh: last_seen is the time of the report.
        "last_seen": super::mist::now(),
        "uptime": 3600,
    });
    if let Some(lldp) = &ap.lldp {
        stat["lldp_stat"] = json!({
            "system_name": lldp.system_name,
            "port_id": lldp.port_id,
            "port_desc": lldp.port_desc,
            "mgmt_addr": lldp.mgmt_addr,
            "chassis_id": chassis,
            "lldp_med_supported": false,
        });
    }
    stat
}

/// The handshake as Mist answers it: path, token, then a programmed 429.
// The error type is tungstenite's `Callback` contract, not ours to box.
#[allow(clippy::result_large_err)]
fn handshake(
    shared: &Shared,
    request: &Request,
    response: Response,
) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, detail: &str| {
        let mut answer = ErrorResponse::new(Some(json!({ "detail": detail }).to_string()));
        *answer.status_mut() = status;
        answer
    };
    let mut state = lock(shared);
    state.handshakes += 1;
    if request.uri().path() != PATH {
        return Err(refuse(StatusCode::NOT_FOUND, "Not found"));
    }
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Token {}", shared.token));
    if !authorized {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ));
    }
    if state.rate_limited > 0 {
        state.rate_limited -= 1;
        return Err(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            super::mist::RATE_LIMIT_DETAIL,
        ));
    }
    Ok(response)
}

async fn serve(shared: Arc<Shared>, socket: TcpStream) {
    let check = shared.clone();
    #[allow(clippy::result_large_err)]
    let callback =
        move |request: &Request, response: Response| handshake(&check, request, response);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(socket, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut state = lock(&shared);
        let id = state.next_id;
        state.next_id += 1;
        state.conns.insert(
            id,
            Conn {
                tx: tx.clone(),
                channels: HashSet::new(),
            },
        );
        id
    };
    let (mut sink, mut frames) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Cut) | None => break,
                Some(Out::Stall) => {
                    // Hold the socket until the server stops; the client must give up on it.
                    while let Some(out) = rx.recv().await {
                        if matches!(out, Out::Cut) {
                            break;
                        }
                    }
                    break;
                }
            },
            frame = frames.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(answer) = subscribe(&shared, id, text.as_str()) {
                        let _ = tx.send(Out::Text(answer));
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    lock(&shared).conns.remove(&id);
}

/// The answer to one client frame: a subscription ack or refusal; nothing for other frames.
fn subscribe(shared: &Shared, id: u64, text: &str) -> Option<String> {
    let request: Value = serde_json::from_str(text).ok()?;
    let channel = request.get("subscribe")?.as_str()?.to_string();
    let mut state = lock(shared);
    let refused = state.failing.get(&channel).cloned().or_else(|| {
        let full = state
            .max_channels
            .zip(state.conns.get(&id))
            .is_some_and(|(max, conn)| conn.channels.len() >= max);
        full.then(|| "too many channels on this connection".to_string())
    });
    if let Some(detail) = refused {
        return Some(
            json!({"event": "subscribe_failed", "channel": channel, "detail": detail}).to_string(),
        );
    }
    if let Some(conn) = state.conns.get_mut(&id) {
        conn.channels.insert(channel.clone());
    }
    Some(json!({"event": "channel_subscribed", "channel": channel}).to_string())
}

/// Publishes the world's AP stats every `every` until aborted (`mesa demo --stream`).
pub fn spawn_reporter(
    stream: Arc<FakeMistStream>,
    mist: Arc<FakeMist>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            stream.publish_ap_stats(&mist);
        }
    })
}
