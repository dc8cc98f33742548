//! Wiring: builds the store, Mist client, backend, notifications, engine and journal from a
//! validated `Config`, in the order the data flows. `mesa serve`, `mesa replay`, `mesa demo`
//! and the tests all start mesa through here, so they run the same pipeline.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::backend::cso::CsoBackend;
use crate::backend::dry_run::DryRun;
use crate::backend::mist::MistPortBackend;
use crate::backend::netconf::NetconfBackend;
use crate::backend::SwitchBackend;
use crate::config::{BackendKind, Config};
use crate::engine::{Engine, EngineParts};
use crate::http::{self, AppState, ServeError};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::mist::{MistClient, MistError};
use crate::notify::Notifications;
use crate::store::{Store, StoreError};
use crate::templates::Templates;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mist(#[from] MistError),
    #[error("backend: {0}")]
    Backend(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub engine: Engine,
    pub journal: Journal,
    pub notify: Notifications,
    /// The engine's Mist client (None without `mist.api_token`); reconcile reads through it
    /// so the switches it learns also serve the engine's lookups.
    pub mist: Option<Arc<MistClient>>,
    /// Shared by the chat handlers (replay guard, announcements).
    pub chatops: crate::chatops::ChatOps,
    /// `[[relay]]`: webhook topics passed on to chat (inactive without rules).
    pub relay: crate::relay::Relay,
    /// Status page sessions, shared by every `http_state()`.
    pub ui: crate::ui::Sessions,
}

impl App {
    /// Builds mesa with the backend the configuration names.
    pub async fn build(config: Config) -> Result<App, AppError> {
        let metrics = Metrics::new();
        let mist = mist_client(&config, &metrics)?;
        let backend = backend_for(&config, mist.clone())?;
        App::assemble(config, backend, metrics, mist).await
    }

    /// Builds mesa around a given backend (tests, `mesa demo`, `replay --dry-run`).
    pub async fn with_backend(
        config: Config,
        backend: Arc<dyn SwitchBackend>,
    ) -> Result<App, AppError> {
        let metrics = Metrics::new();
        let mist = mist_client(&config, &metrics)?;
        App::assemble(config, backend, metrics, mist).await
    }

    /// One Mist client for the engine and the `mist` backend: one call budget, one cache.
    async fn assemble(
        config: Config,
        backend: Arc<dyn SwitchBackend>,
        metrics: Metrics,
        mist: Option<Arc<MistClient>>,
    ) -> Result<App, AppError> {
        let config = Arc::new(config);
        let store: Arc<dyn Store> = crate::store::open(&config).await?;
        // Instances sharing the store take turns at each switch.
        let backend =
            crate::ha::switch_lease::Leased::wrap(backend, store.clone(), config.store.lease.get());
        let notify = Notifications::new(&config.notify, &config.mist.api_url, metrics.clone());
        let (dispatch, events) = mpsc::unbounded_channel();
        let journal = Journal::start(store.clone(), metrics.clone(), dispatch);
        let engine = Engine::new(EngineParts {
            config: config.clone(),
            store: store.clone(),
            backend,
            notify: notify.clone(),
            metrics: metrics.clone(),
            journal: journal.clone(),
            mist: mist.clone(),
        });
        engine.run(events);
        if mist.is_some() {
            spawn_budget_notices(&metrics, notify.clone());
        }
        let chatops = crate::chatops::ChatOps::new(notify.clone(), engine.clone());
        let relay = crate::relay::Relay::start(&config, notify.clone(), &metrics);
        Ok(App {
            relay,
            chatops,
            config,
            store,
            metrics,
            engine,
            journal,
            notify,
            mist,
            ui: crate::ui::Sessions::default(),
        })
    }

    /// Resumes unfinished events, starts the periodic reconcile (`reconcile.enabled`) and the
    /// retention prune, then serves HTTP until SIGTERM / Ctrl-C, and drains ([`App::drain`]).
    pub async fn serve(
        &self,
        bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    ) -> Result<(), AppError> {
        // A shared store: this instance claims its work alongside the others (including
        // what a dead instance left); alone, it resumes every unfinished event.
        let claims = if self.store.shared() {
            let url = self
                .config
                .store
                .url
                .as_ref()
                .map(|u| u.expose().to_string());
            Some(crate::ha::claim::spawn(self.clone(), url))
        } else {
            let resumed = self.engine.resume().await?;
            if resumed > 0 {
                tracing::info!(resumed, "unfinished events from the journal resumed");
            }
            None
        };
        let reconcile = self
            .config
            .reconcile
            .enabled
            .then(|| self.singleton(crate::ha::RECONCILE, crate::reconcile::spawn_periodic));
        let prune = crate::store::retention::spawn(
            self.store.clone(),
            self.config.store.retention.get(),
            self.metrics.clone(),
        );
        let stream = self
            .config
            .ingest
            .mode
            .uses_stream()
            .then(|| self.singleton(crate::ha::STREAM, crate::ingest::stream::spawn));
        let holds = crate::maintenance::spawn_expiry(
            self.store.clone(),
            self.notify.clone(),
            self.journal.clone(),
        );
        let slack_socket = crate::chatops::socket_mode::spawn(self.http_state());
        let served = http::serve(self.http_state(), bound).await;
        if let Some(task) = slack_socket {
            task.abort();
        }
        holds.abort();
        prune.abort();
        if let Some(task) = reconcile {
            task.abort();
        }
        if let Some(task) = stream {
            task.abort();
        }
        if let Some(task) = claims {
            task.abort();
        }
        self.drain().await;
        for lease in [crate::ha::RECONCILE, crate::ha::STREAM] {
            // Handed over now rather than when the lease expires.
            if let Err(e) = self.store.lease_release(lease).await {
                tracing::warn!(lease, error = %e, "lease not released; it expires");
            }
        }
        served?;
        Ok(())
    }

    /// After the HTTP server stopped taking requests: decisions under way finish, waiting
    /// ones go back to the journal, then queued notifications are delivered, all within
    /// `server.shutdown_grace`.
    pub async fn drain(&self) {
        let grace = self.config.server.shutdown_grace.get();
        let started = crate::clock::Instant::now();
        let drained = self.engine.drain(grace).await;
        // The announcements of the decisions just finished are part of the drain; at least a
        // moment for them even when the decisions took the whole grace.
        let left = grace
            .saturating_sub(started.elapsed())
            .max(std::time::Duration::from_secs(1));
        // Relay messages still held for grouping go out with the rest.
        self.relay.flush(left).await;
        let left = grace
            .saturating_sub(started.elapsed())
            .max(std::time::Duration::from_secs(1));
        let flushed = self.notify.flush(left).await;
        if drained.idle && flushed {
            tracing::info!(
                handed_back = drained.handed_back,
                "stopped: in-flight decisions finished, waiting events back in the journal"
            );
        } else {
            tracing::warn!(
                handed_back = drained.handed_back,
                decisions_finished = drained.idle,
                notifications_delivered = flushed,
                "stopped at the end of server.shutdown_grace; undecided events resume at the next start"
            );
        }
    }

    /// `start`'s task: on this instance alone, or (shared store) while it holds `lease`.
    fn singleton(
        &self,
        lease: &'static str,
        start: fn(App) -> tokio::task::JoinHandle<()>,
    ) -> tokio::task::JoinHandle<()> {
        if !self.store.shared() {
            return start(self.clone());
        }
        let app = self.clone();
        crate::ha::singleton::spawn(
            self.store.clone(),
            lease,
            self.config.store.lease.get(),
            move || start(app.clone()),
        )
    }

    pub fn http_state(&self) -> AppState {
        AppState {
            config: self.config.clone(),
            journal: self.journal.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            chatops: self.chatops.clone(),
            relay: self.relay.clone(),
            ui: self.ui.clone(),
        }
    }
}

/// The Mist API budget's 80 % warning, in chat too (the client logs it).
fn spawn_budget_notices(metrics: &Metrics, notify: Notifications) {
    let budget = metrics.mist_budget();
    let mut warnings = budget.warnings();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match warnings.recv().await {
                Ok(warning) => notify.publish_notice(crate::notify::Message::notice(
                    crate::model::Severity::Warning,
                    "mist_budget",
                    "⚠️ Mist API budget at 80 %",
                    &warning.to_string(),
                    Vec::new(),
                )),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    });
}

fn mist_client(config: &Config, metrics: &Metrics) -> Result<Option<Arc<MistClient>>, AppError> {
    match &config.mist.api_token {
        Some(_) => Ok(Some(Arc::new(MistClient::new(
            &config.mist,
            metrics.clone(),
        )?))),
        None => Ok(None),
    }
}

/// The configured backend. `mist` is the client the engine uses too (needed for kind
/// `mist`, which configuration validation guarantees).
pub fn backend_for(
    config: &Config,
    mist: Option<Arc<MistClient>>,
) -> Result<Arc<dyn SwitchBackend>, AppError> {
    let templates =
        Templates::load(&config.templates).map_err(|e| AppError::Backend(e.to_string()))?;
    let templates = Arc::new(templates);
    match config.backend.kind {
        BackendKind::DryRun => Ok(Arc::new(DryRun::with_templates(templates))),
        BackendKind::Netconf => Ok(Arc::new(NetconfBackend::new(
            &config.backend.netconf,
            &config.switches,
            templates,
        ))),
        BackendKind::Cso => CsoBackend::new(&config.backend.cso)
            .map(|b| Arc::new(b) as Arc<dyn SwitchBackend>)
            .map_err(|e| AppError::Backend(format!("cso: {e}"))),
        BackendKind::Mist => {
            let mist = mist.ok_or(MistError::NotConfigured("mist.api_token"))?;
            Ok(Arc::new(MistPortBackend::new(mist, &config.backend.mist)))
        }
    }
}
