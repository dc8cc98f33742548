//! Per-switch batching: every change waiting for the same switch goes in one backend call
//! (one session, one lock, one commit). A rollout of 48 APs on one switch then costs one or
//! two commits instead of 48, which matters when a commit on an EX takes tens of seconds.
//!
//! Each switch has a lane (a task and a queue), keyed by the switch's MAC where known (LLDP
//! and Mist may spell its name differently). While a batch is being applied, new changes
//! pile up in the queue and become the next batch. Switches proceed in parallel; a backend
//! bounds its own sessions.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot};

use super::{BackendError, PortResult, SwitchBackend};
use crate::metrics::Metrics;
use crate::model::PortChange;

type Reply = oneshot::Sender<Result<PortResult, BackendError>>;

struct Job {
    change: PortChange,
    reply: Reply,
}

#[derive(Clone)]
pub struct Batcher {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn SwitchBackend>,
    lanes: DashMap<String, mpsc::UnboundedSender<Job>>,
    window: Duration,
    metrics: Metrics,
}

impl Batcher {
    /// `window`: how long the first change of a batch waits for others to join it.
    pub fn new(backend: Arc<dyn SwitchBackend>, window: Duration, metrics: Metrics) -> Batcher {
        Batcher {
            inner: Arc::new(Inner {
                backend,
                lanes: DashMap::new(),
                window,
                metrics,
            }),
        }
    }

    pub fn backend_kind(&self) -> &'static str {
        self.inner.backend.kind()
    }

    /// Applies one change, together with whatever else is pending for its switch.
    pub async fn apply(&self, change: PortChange) -> Result<PortResult, BackendError> {
        let (reply, answer) = oneshot::channel();
        let switch = change.switch.key();
        let mut job = Job { change, reply };
        // A lane whose task ended (it never does on its own) is replaced, not lost.
        for _ in 0..2 {
            let lane = self
                .inner
                .lanes
                .entry(switch.clone())
                .or_insert_with(|| self.spawn_lane())
                .clone();
            match lane.send(job) {
                Ok(()) => {
                    return answer
                        .await
                        .map_err(|_| BackendError::Other("switch lane stopped".into()))?
                }
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    self.inner.lanes.remove(&switch);
                }
            }
        }
        Err(BackendError::Other("switch lane unavailable".into()))
    }

    fn spawn_lane(&self) -> mpsc::UnboundedSender<Job> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(lane(self.inner.clone(), rx));
        tx
    }
}

async fn lane(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        if !inner.window.is_zero() {
            tokio::time::sleep(inner.window).await;
        }
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
        }
        apply_batch(&inner, jobs).await;
    }
}

async fn apply_batch(inner: &Inner, mut jobs: Vec<Job>) {
    // The newest reference carries the freshest name and address; every change of the batch
    // is addressed the same way (one switch, whatever LLDP or Mist called it).
    let switch = jobs[jobs.len() - 1].change.switch.clone();
    for job in &mut jobs {
        job.change.switch = switch.clone();
    }
    let changes: Vec<PortChange> = jobs.iter().map(|j| j.change.clone()).collect();
    let kind = inner.backend.kind();
    let result = inner.backend.apply(&switch, &changes).await;
    match result {
        Ok(results) if results.len() == jobs.len() => {
            inner.metrics.backend_batch(kind, "ok");
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Ok(results) => {
            inner.metrics.backend_batch(kind, "error");
            let error = BackendError::Other(format!(
                "backend answered {} results for {} changes",
                results.len(),
                jobs.len()
            ));
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
        // One bad change must not hold back the others: a change the switch refuses is
        // retried alone, so only its own event fails. Only for refusals of the content: a
        // failed login or host key would fail the same way for each port (and 48 failed
        // logins in a row can lock the account).
        Err(error) if error.is_about_the_change() && jobs.len() > 1 => {
            inner.metrics.backend_batch(kind, "split");
            tracing::warn!(switch = %switch.name, %error, changes = jobs.len(), "batch refused; applying its changes one by one");
            for job in jobs {
                let single = inner
                    .backend
                    .apply(&job.change.switch, std::slice::from_ref(&job.change))
                    .await;
                let reply = single.and_then(|mut r| {
                    r.pop()
                        .ok_or_else(|| BackendError::Other("backend answered no result".into()))
                });
                inner
                    .metrics
                    .backend_batch(kind, if reply.is_ok() { "ok" } else { "error" });
                let _ = job.reply.send(reply);
            }
        }
        Err(error) => {
            inner.metrics.backend_batch(kind, "error");
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::dry_run::DryRun;
    use crate::model::{ApRef, InterfaceName, Mac, Profile, SwitchRef};

    fn change(switch: &str, port: u32) -> PortChange {
        PortChange {
            switch: SwitchRef {
                name: switch.into(),
                site_id: "s".into(),
                mac: None,
                mgmt_addr: None,
            },
            port: InterfaceName::parse(&format!("ge-0/0/{port}")).unwrap(),
            profile: Profile::Ap,
            ap: ApRef {
                mac: Mac::parse(&format!("5c5b35{port:06}")).unwrap(),
                name: None,
            },
            site_name: None,
            reason: "test".into(),
        }
    }

    #[tokio::test]
    async fn changes_pending_together_share_one_batch() {
        let backend = Arc::new(DryRun::new());
        let batcher = Batcher::new(backend.clone(), Duration::from_millis(50), Metrics::new());
        let mut tasks = Vec::new();
        for port in 0..12 {
            let batcher = batcher.clone();
            tasks.push(tokio::spawn(async move {
                batcher.apply(change("sw1", port)).await
            }));
        }
        tasks.push(tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.apply(change("sw2", 1)).await }
        }));
        for task in tasks {
            assert!(task.await.unwrap().unwrap().changed);
        }
        let batches = backend.batches();
        assert_eq!(batches.len(), 2, "one batch per switch");
        assert!(batches.iter().any(|b| b.len() == 12));
    }

    /// LLDP and Mist name one switch differently: its MAC makes it one lane, one batch, and
    /// every change of the batch addressed the same way (a backend refuses mixed names).
    #[tokio::test]
    async fn one_switch_under_two_names_is_one_batch() {
        let backend = Arc::new(DryRun::new());
        let batcher = Batcher::new(backend.clone(), Duration::from_millis(50), Metrics::new());
        let mac = Mac::parse("d420b0000001").ok();
        let tasks: Vec<_> = [("sw1.campus.example", 1), ("sw1", 2)]
            .into_iter()
            .map(|(name, port)| {
                let mut c = change(name, port);
                c.switch.mac = mac.clone();
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.apply(c).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        let batches = backend.batches();
        assert_eq!(batches.len(), 1, "{batches:?}");
        assert!(batches[0].iter().all(|c| c.switch == batches[0][0].switch));
        assert!(crate::backend::ensure_one_switch(&batches[0][0].switch, &batches[0]).is_ok());
    }

    /// Fails every call with a fixed error and counts the calls.
    struct Refusing(BackendError, std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl SwitchBackend for Refusing {
        fn kind(&self) -> &'static str {
            "refusing"
        }
        async fn apply(
            &self,
            _: &SwitchRef,
            _: &[PortChange],
        ) -> Result<Vec<PortResult>, BackendError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(self.0.clone())
        }
    }

    async fn calls_for(error: BackendError) -> usize {
        let backend = Arc::new(Refusing(error, Default::default()));
        let batcher = Batcher::new(backend.clone(), Duration::from_millis(50), Metrics::new());
        let tasks: Vec<_> = (0..5)
            .map(|port| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.apply(change("sw1", port)).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_err());
        }
        backend.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn refused_content_is_retried_port_by_port_but_a_refused_login_is_not() {
        assert_eq!(
            calls_for(BackendError::Rejected("syntax".into())).await,
            1 + 5
        );
        assert_eq!(
            calls_for(BackendError::Auth("wrong password".into())).await,
            1
        );
        assert_eq!(calls_for(BackendError::HostKey("changed".into())).await, 1);
    }
}
