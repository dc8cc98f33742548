//! One rate-limit gate per Mist client. A 429 means the token's hourly budget is spent, which
//! is not over in a few seconds; if each of 256 lookups in flight retried on its own, every
//! one of them would spend more of the next hour's budget on 429s. So a 429 closes the gate
//! for everyone:
//!
//! - closed: callers wait (at most their own limit, then they give up with a clear error);
//! - the wait is Mist's `Retry-After` when given, else `rate_limit_wait`, doubled for each
//!   further 429 in a row up to 8 times it (30 s, 1, 2, 4 min with the default): the budget
//!   comes back within the hour, a probe costs one call, and waiting far longer than the
//!   probes' spacing would keep events waiting after Mist accepts calls again;
//! - when the wait is over, exactly one caller (the probe) goes out; the others wait for its
//!   answer. A 429 closes the gate again, any other answer opens it for everyone.
//!
//! A 429 that arrives while the gate is already closed (a call sent before it closed) extends
//! nothing and counts no further strike.

use std::time::Duration;

use crate::clock::Instant;

use tokio::sync::watch;

/// Doublings of `rate_limit_wait` for 429s in a row (8 times it at most).
const MAX_DOUBLINGS: u32 = 3;

#[derive(Debug, Clone, Default)]
struct State {
    closed_until: Option<Instant>,
    /// 429s in a row, each seen while the gate was open or probing.
    strikes: u32,
    probing: bool,
}

pub struct RateGate {
    state: watch::Sender<State>,
    first_wait: Duration,
}

/// Permission to send one call; report its answer with [`Ticket::limited`] or
/// [`Ticket::answered`]. Dropped without either (a transport error, a cancelled call), a
/// probe hands its turn to the next caller.
pub struct Ticket<'a> {
    gate: &'a RateGate,
    probe: bool,
    reported: bool,
}

/// The gate stays closed longer than the caller was willing to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StillClosed {
    /// Time until the gate reopens, when known (not while another caller probes).
    pub reopens_in: Option<Duration>,
}

enum Look {
    Open,
    Probe,
    ClosedUntil(Instant),
    Probing,
}

impl RateGate {
    /// `first_wait`: how long a 429 without `Retry-After` closes the gate.
    pub fn new(first_wait: Duration) -> RateGate {
        RateGate {
            state: watch::channel(State::default()).0,
            first_wait: first_wait.max(Duration::from_millis(1)),
        }
    }

    /// Waits until a call may go out, at most `max_wait`.
    pub async fn enter(&self, max_wait: Duration) -> Result<Ticket<'_>, StillClosed> {
        let deadline = Instant::now() + max_wait;
        let mut changes = self.state.subscribe();
        loop {
            changes.borrow_and_update();
            let now = Instant::now();
            let mut look = Look::Open;
            self.state.send_if_modified(|s| {
                let (seen, claimed) = match s.closed_until {
                    None => (Look::Open, false),
                    Some(until) if now < until => (Look::ClosedUntil(until), false),
                    Some(_) if s.probing => (Look::Probing, false),
                    Some(_) => {
                        s.probing = true;
                        (Look::Probe, true)
                    }
                };
                look = seen;
                claimed
            });
            match look {
                Look::Open => return Ok(self.ticket(false)),
                Look::Probe => return Ok(self.ticket(true)),
                Look::ClosedUntil(until) if until > deadline => {
                    return Err(StillClosed {
                        reopens_in: Some(until - now),
                    })
                }
                Look::ClosedUntil(until) => {
                    tokio::time::sleep_until(until).await;
                }
                Look::Probing => {
                    let left = deadline.saturating_duration_since(now);
                    if left.is_zero()
                        || tokio::time::timeout(left, changes.changed()).await.is_err()
                    {
                        return Err(StillClosed { reopens_in: None });
                    }
                }
            }
        }
    }

    /// Time until the gate reopens; `None` when it is open.
    pub fn closed_for(&self) -> Option<Duration> {
        let until = self.state.borrow().closed_until?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn ticket(&self, probe: bool) -> Ticket<'_> {
        Ticket {
            gate: self,
            probe,
            reported: false,
        }
    }
}

impl Ticket<'_> {
    /// Mist answered 429; `retry_after` is its `Retry-After`, if any. Returns how long the
    /// gate is now closed.
    pub fn limited(mut self, retry_after: Option<Duration>) -> Duration {
        self.reported = true;
        let now = Instant::now();
        let first_wait = self.gate.first_wait;
        let probe = self.probe;
        let mut closed_for = Duration::ZERO;
        self.gate.state.send_modify(|s| {
            let open = s.closed_until.is_none_or(|until| until <= now);
            if open || probe {
                s.strikes = s.strikes.saturating_add(1);
            }
            let wait = retry_after.unwrap_or_else(|| {
                first_wait.saturating_mul(1u32 << s.strikes.saturating_sub(1).min(MAX_DOUBLINGS))
            });
            let until = now + wait;
            if s.closed_until.is_none_or(|current| current < until) {
                s.closed_until = Some(until);
            }
            if probe {
                s.probing = false;
            }
            closed_for = s
                .closed_until
                .map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
        });
        closed_for
    }

    /// Mist answered with anything but 429: the budget is back. Only a probe (or a call made
    /// while the gate was open) opens it; a late answer to a call sent before the 429 says
    /// nothing about now.
    pub fn answered(mut self) {
        self.reported = true;
        let probe = self.probe;
        self.gate.state.send_if_modified(|s| {
            if probe || s.closed_until.is_none() {
                let changed = s.closed_until.is_some() || s.probing || s.strikes > 0;
                *s = State::default();
                changed
            } else {
                false
            }
        });
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.gate.state.send_modify(|s| s.probing = false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_429_closes_for_everyone_and_one_probe_reopens() {
        let gate = Arc::new(RateGate::new(Duration::from_millis(100)));
        let first = gate.enter(Duration::ZERO).await.unwrap();
        let closed = first.limited(None);
        assert!(
            closed > Duration::from_millis(90) && closed <= Duration::from_millis(100),
            "first wait: {closed:?}"
        );
        assert!(gate.closed_for().is_some());
        // Not willing to wait that long: a clear refusal, no call.
        let refused = gate.enter(Duration::from_millis(10)).await.err().unwrap();
        assert!(refused.reopens_in.is_some());

        // 20 waiters: one probe goes out when the gate reopens, the rest wait for its answer.
        let probes = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (gate, probes) = (gate.clone(), probes.clone());
            tasks.push(tokio::spawn(async move {
                let ticket = gate.enter(Duration::from_secs(5)).await.unwrap();
                if ticket.probe {
                    probes.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                ticket.answered();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(probes.load(Ordering::SeqCst), 1);
        assert_eq!(gate.closed_for(), None);
    }

    #[tokio::test]
    async fn repeated_429s_double_the_wait_and_late_answers_change_nothing() {
        let gate = RateGate::new(Duration::from_millis(40));
        let early = gate.enter(Duration::ZERO).await.unwrap();
        let late = gate.enter(Duration::ZERO).await.unwrap();
        early.limited(None);
        // Sent before the gate closed, answered after: no second strike, no reopening.
        late.limited(None);
        let second = gate.enter(Duration::from_secs(1)).await.unwrap();
        assert!(second.probe);
        let closed = second.limited(None);
        assert!(closed > Duration::from_millis(60), "doubled: {closed:?}");
        let third = gate.enter(Duration::from_secs(1)).await.unwrap();
        assert!(third.probe);
        drop(third); // no answer: the next caller probes instead
        let fourth = gate.enter(Duration::ZERO).await.unwrap();
        assert!(fourth.probe);
        assert!(fourth.limited(Some(Duration::from_secs(7))) >= Duration::from_secs(6));
        // Without Retry-After the wait stops growing at 8 times the first.
        let gate = RateGate::new(Duration::from_millis(1));
        let mut closed = Duration::ZERO;
        for _ in 0..10 {
            let ticket = gate.enter(Duration::from_secs(1)).await.unwrap();
            closed = ticket.limited(None);
        }
        assert!(closed <= Duration::from_millis(8), "{closed:?}");
    }
}
