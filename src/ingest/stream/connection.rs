//! One WebSocket connection to the Mist stream, kept up for the life of mesa: dial out with
//! `Authorization: Token …`, subscribe its channels, hand every AP report to the hub, ping
//! every `ping_interval`, and after any loss reconnect (backoff with jitter; at least
//! `rate_limited_wait` after a 429 on the handshake) and subscribe again. The hub hears which
//! sites went down and came back, and after how long a gap.

use std::collections::HashSet;
use std::time::Duration;

use crate::clock::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, USER_AGENT};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::hub::Input;
use super::message::{self, ap_report, channel_site, Frame};
use super::metrics::StreamMetrics;
use crate::config::StreamConfig;

/// A handshake that takes longer than this is given up and retried.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Timings of a connection, from `[ingest.stream]`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ping: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub rate_limited_wait: Duration,
}

impl Timing {
    pub fn from_config(cfg: &StreamConfig) -> Timing {
        Timing {
            ping: cfg.ping_interval.get(),
            reconnect_min: cfg.reconnect_min.get(),
            reconnect_max: cfg.reconnect_max.get(),
            rate_limited_wait: cfg.rate_limited_wait.get(),
        }
    }
}

pub struct Link {
    pub id: usize,
    pub url: String,
    /// `Token <mist.api_token>`, marked sensitive.
    pub auth: HeaderValue,
    pub channels: Vec<String>,
    pub timing: Timing,
    pub hub: mpsc::UnboundedSender<Input>,
    pub metrics: StreamMetrics,
}

/// How a session ended.
#[derive(Debug)]
enum Ended {
    /// The handshake was answered 429: Mist wants a pause.
    RateLimited,
    /// 401 / 403: the token is wrong or lacks rights.
    Refused(u16),
    Lost(String),
}

/// What a session leaves for the next one.
struct Session {
    /// When the last connection was lost (None: never connected, or the gap was counted).
    lost_at: Option<Instant>,
    /// Failed attempts since the last subscription that worked; drives the backoff.
    failures: u32,
}

impl Link {
    /// Runs until the task is aborted.
    pub async fn run(self) {
        let mut session = Session {
            lost_at: None,
            failures: 0,
        };
        loop {
            let (ended, connected) = self.session(&mut session).await;
            if connected {
                session.lost_at = Some(Instant::now());
            }
            let wait = match &ended {
                Ended::RateLimited => {
                    let wait = self.timing.rate_limited_wait;
                    wait + wait.mul_f64(rand::random::<f64>() * 0.1)
                }
                Ended::Refused(_) => self.timing.reconnect_max,
                Ended::Lost(_) => crate::backoff::delay(
                    self.timing.reconnect_min,
                    session.failures,
                    self.timing.reconnect_max,
                ),
            };
            session.failures = session.failures.saturating_add(1);
            match &ended {
                Ended::Refused(status) => tracing::error!(
                    connection = self.id,
                    status,
                    "Mist stream refused the token (check mist.api_token and its privileges); retrying in {}",
                    humantime::format_duration(wait)
                ),
                Ended::RateLimited => tracing::warn!(
                    connection = self.id,
                    "Mist stream handshake answered 429; waiting {}",
                    humantime::format_duration(wait)
                ),
                Ended::Lost(reason) => tracing::warn!(
                    connection = self.id,
                    reason = %reason,
                    "Mist stream connection lost; reconnecting in {}",
                    humantime::format_duration(wait)
                ),
            }
            tokio::time::sleep(wait).await;
            self.metrics.reconnect();
        }
    }

    /// One connection, from the handshake to its end. Returns whether it got connected.
    async fn session(&self, session: &mut Session) -> (Ended, bool) {
        let mut request = match self.url.as_str().into_client_request() {
            Ok(request) => request,
            Err(e) => return (Ended::Lost(format!("stream URL: {e}")), false),
        };
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.auth.clone());
        request.headers_mut().insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("mesa/", env!("CARGO_PKG_VERSION"))),
        );
        let connected =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await;
        let ws = match connected {
            Err(_) => return (Ended::Lost("handshake timed out".into()), false),
            Ok(Err(WsError::Http(response))) => {
                let status = response.status().as_u16();
                let ended = match status {
                    429 => Ended::RateLimited,
                    401 | 403 => Ended::Refused(status),
                    _ => Ended::Lost(format!("handshake answered HTTP {status}")),
                };
                return (ended, false);
            }
            Ok(Err(e)) => return (Ended::Lost(format!("handshake: {e}")), false),
            Ok(Ok((ws, _))) => ws,
        };
        let after_gap = match session.lost_at.take() {
            Some(lost) => {
                let gap = lost.elapsed();
                self.metrics.gap(gap.as_secs_f64());
                tracing::info!(
                    connection = self.id,
                    gap_s = gap.as_secs_f64(),
                    "Mist stream reconnected; subscribing again"
                );
                true
            }
            None => false,
        };
        self.metrics.connection_up();
        let (mut sink, mut frames) = ws.split();
        let mut subscribed = HashSet::new();
        let ended = 'session: {
            for channel in &self.channels {
                if let Err(e) = sink.send(Message::text(message::subscribe(channel))).await {
                    break 'session Ended::Lost(format!("subscribe: {e}"));
                }
            }
            let mut ping = tokio::time::interval(self.timing.ping);
            ping.reset();
            let mut last_frame = Instant::now();
            loop {
                tokio::select! {
                    frame = frames.next() => match frame {
                        None => break 'session Ended::Lost("server closed the connection".into()),
                        Some(Err(e)) => break 'session Ended::Lost(e.to_string()),
                        Some(Ok(Message::Close(close))) => {
                            let why = close.map(|c| format!("{} {}", c.code, c.reason)).unwrap_or_default();
                            break 'session Ended::Lost(format!("server closed the connection {why}").trim().to_string());
                        }
                        Some(Ok(Message::Text(text))) => {
                            last_frame = Instant::now();
                            self.frame(text.as_str(), &mut subscribed, after_gap, session);
                        }
                        Some(Ok(_)) => last_frame = Instant::now(),
                    },
                    _ = ping.tick() => {
                        // No pong nor data for two intervals: the path is dead even if TCP
                        // has not noticed.
                        if last_frame.elapsed() > self.timing.ping * 2 {
                            break 'session Ended::Lost("no answer to pings".into());
                        }
                        if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                            break 'session Ended::Lost(format!("ping: {e}"));
                        }
                    }
                }
            }
        };
        self.metrics.connection_down();
        self.metrics.channels_down(subscribed.len());
        let sites: Vec<String> = subscribed
            .iter()
            .filter_map(|c: &String| channel_site(c).map(str::to_string))
            .collect();
        let _ = self.hub.send(Input::ChannelsDown { sites });
        (ended, true)
    }

    fn frame(
        &self,
        text: &str,
        subscribed: &mut HashSet<String>,
        after_gap: bool,
        session: &mut Session,
    ) {
        let frame = match message::decode(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.metrics.message("undecodable");
                tracing::warn!(connection = self.id, error = %e, "Mist stream frame not understood; ignored");
                return;
            }
        };
        match frame {
            Frame::Subscribed { channel } => {
                self.metrics.message("channel_subscribed");
                session.failures = 0;
                if let Some(site) = channel_site(&channel) {
                    let site = site.to_string();
                    if subscribed.insert(channel) {
                        self.metrics.channel_up();
                        let _ = self.hub.send(Input::ChannelUp { site, after_gap });
                    }
                }
            }
            Frame::SubscribeFailed { channel, detail } => {
                self.metrics.message("subscribe_failed");
                tracing::warn!(
                    connection = self.id,
                    channel = %channel,
                    detail = %detail,
                    "Mist refused a stream subscription: this site is not watched by the stream until the next reconnect"
                );
            }
            Frame::Data { channel, data } => {
                self.metrics.message("data");
                match ap_report(&channel, &data) {
                    Ok(report) => {
                        let _ = self.hub.send(Input::Report(report));
                    }
                    Err(skipped) => {
                        tracing::trace!(channel = %channel, reason = skipped.label(), "stream data without an AP report")
                    }
                }
            }
            Frame::Other { event } => {
                self.metrics.message("other");
                tracing::debug!(connection = self.id, event = %event, "Mist stream event ignored");
            }
        }
    }
}
