//! Retry delays shared by every retry loop (Mist API, CSO API, engine retries): exponential
//! from a base, capped, with jitter so that a burst of failures does not retry in lockstep.

use std::time::Duration;

/// `base · 2^attempt`, at most `cap`, then spread over its upper half (`[d/2, d]`).
pub fn delay(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_stays_in_its_band() {
        let base = Duration::from_millis(100);
        for attempt in 0..20 {
            let full = base
                .saturating_mul(1u32 << attempt.min(16))
                .min(Duration::from_secs(5));
            let d = delay(base, attempt, Duration::from_secs(5));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
