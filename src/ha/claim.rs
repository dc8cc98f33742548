//! The journal as a shared queue: this instance claims pending events nobody works on
//! (journaled while another instance held their AP's lane, or left by an instance whose
//! lease expired), keeps the leases of its own events alive with a heartbeat, and hands the
//! claimed events to its engine. A `NOTIFY` on [`WAKE_CHANNEL`] only wakes it early:
//! notifications sent while it is disconnected are lost, and polling every
//! `store.poll_interval` still finds the work.
//!
//! Poison events: a claim counts a run. An event whose earlier runs all ended with their
//! instance dying (`journal.max_attempts` of them) is parked as failed, as at a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::app::App;
use crate::store::postgres::WAKE_CHANNEL;
use crate::store::JournalEntry;

/// At most this many events per claim transaction.
const BATCH: u32 = 256;

/// Starts the heartbeat and the claim loop; both end when the returned handle is aborted.
pub fn spawn(app: App, wake_url: Option<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let wake = Arc::new(Notify::new());
        let listener = wake_url.map(|url| tokio::spawn(listen(url, wake.clone())));
        let heartbeat = tokio::spawn(heartbeat(app.clone()));
        let _guards = (AbortOnDrop(Some(heartbeat)), AbortOnDrop(listener));
        let poll = app.config.store.poll_interval.get();
        loop {
            match app.store.journal_claim(BATCH).await {
                Ok(entries) => {
                    let full = entries.len() == BATCH as usize;
                    if !entries.is_empty() {
                        tracing::info!(claimed = entries.len(), "claimed journal events");
                    }
                    take(&app, entries).await;
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "journal claim failed; trying again"),
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = wake.notified() => {}
            }
        }
    })
}

/// Parks the poison events, hands the others to the engine (their lanes keep the order).
async fn take(app: &App, entries: Vec<JournalEntry>) {
    let max_attempts = app.config.journal.max_attempts;
    for mut entry in entries {
        // The claim counted the run starting now; the runs before it are the ones that died.
        entry.attempts = entry.attempts.saturating_sub(1);
        if entry.attempts >= max_attempts {
            let decision = crate::journal::parked(&entry, max_attempts, app.engine.backend_kind());
            tracing::error!(event_id = %entry.event.id, attempts = entry.attempts, "event parked as failed: its runs never finished");
            match app.store.journal_park(&decision).await {
                Ok(()) => {
                    app.metrics.event_parked();
                    app.metrics.decision(decision.outcome.label(), 0.0);
                    app.notify.publish(&decision);
                }
                Err(e) => tracing::error!(error = %e, "parking failed; the event stays claimed"),
            }
            continue;
        }
        tracing::info!(event_id = %entry.event.id, attempts = entry.attempts, "event claimed from the shared journal");
        app.engine.submit(entry.event);
    }
}

/// Renews this instance's leases three times per `store.lease`.
async fn heartbeat(app: App) {
    let every = app.config.store.lease.get() / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = app.store.journal_heartbeat().await {
            tracing::warn!(error = %e, "lease heartbeat failed: another instance may take this instance's events over");
        }
    }
}

/// `LISTEN` on a connection of its own; reconnects after a pause when it drops.
async fn listen(url: String, wake: Arc<Notify>) {
    loop {
        if let Err(e) = listen_once(&url, &wake).await {
            tracing::debug!(error = %e, "journal wake-up listener down; polling meanwhile");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn listen_once(url: &str, wake: &Notify) -> Result<(), tokio_postgres::Error> {
    use futures_util::StreamExt;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let _driver = AbortOnDrop(Some(driver));
    client
        .batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))
        .await?;
    while rx.recv().await.is_some() {
        wake.notify_one();
    }
    Ok(())
}

/// Aborts its task when dropped (the owner was aborted).
pub(crate) struct AbortOnDrop(pub(crate) Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}
