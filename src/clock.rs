//! mesa's one clock: every wall-clock reading (`now`) and every monotonic one (`Instant`)
//! on the decision path goes through here.
//!
//! In `mesa serve` it is the system clock. A simulation can run mesa on a tokio runtime with
//! a paused clock and call [`follow_runtime_clock`]: wall time then advances with the
//! runtime's virtual clock, so a campus day of hours plays in the CPU time its work takes,
//! and every wait (guards, holds, retries, Mist's rate-limit gate) is exactly as long as
//! configured, whatever else the machine does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

/// Monotonic time; tokio's, so that a paused runtime's virtual clock moves it.
pub use tokio::time::Instant;

static FOLLOW_RUNTIME: AtomicBool = AtomicBool::new(false);

/// The wall time and monotonic instant read together once: wall time under a followed
/// runtime clock is this wall time plus the runtime's monotonic progress since.
fn epoch() -> &'static (std::time::Instant, DateTime<Utc>) {
    static EPOCH: OnceLock<(std::time::Instant, DateTime<Utc>)> = OnceLock::new();
    EPOCH.get_or_init(|| (std::time::Instant::now(), Utc::now()))
}

/// Wall time from now on follows the tokio runtime's clock of whoever asks (virtual when
/// that runtime's clock is paused). For simulations; irreversible for the process.
pub fn follow_runtime_clock() {
    epoch();
    FOLLOW_RUNTIME.store(true, Ordering::SeqCst);
}

/// The current wall time.
pub fn now() -> DateTime<Utc> {
    if !FOLLOW_RUNTIME.load(Ordering::Relaxed) {
        return Utc::now();
    }
    let (base_instant, base_wall) = *epoch();
    let elapsed = Instant::now()
        .into_std()
        .saturating_duration_since(base_instant);
    base_wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::zero())
}

/// The current wall time in seconds since the Unix epoch, as Mist stamps its data.
pub fn epoch_seconds() -> f64 {
    now().timestamp_micros() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_is_the_system_clock_by_default() {
        let before = Utc::now();
        let read = now();
        assert!(read >= before && read <= Utc::now());
    }
}
