//! Back-off after failures that pass (the API server or the network failing for a moment): each
//! failure in a row waits twice as long as the one before, up to a cap, with jitter, so that many
//! clients failing together do not retry together. Reconciles back off per application
//! ([`Backoffs`]); watches back off per watch (`watch_backoff`). A success starts the count again.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::Duration;

/// Exponential steps from `base` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exponential {
    pub base: Duration,
    pub cap: Duration,
}

/// Reconciles: an API server back from an outage is used again within seconds.
pub const RECONCILES: Exponential = Exponential {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(10),
};

impl Exponential {
    /// The wait after `failures` failures in a row (1 or more), `jitter` in [0, 1) choosing
    /// where in the upper half of the exponential step it falls.
    pub fn delay(self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        let step = self.base.saturating_mul(1 << doublings).min(self.cap);
        step.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// The failures in a row of each application (by namespace and name).
#[derive(Debug, Default)]
pub struct Backoffs {
    failures: Mutex<HashMap<(String, String), u32>>,
}

impl Backoffs {
    /// Counts a failure of the application's reconcile; how long to wait before the next.
    pub fn failed(&self, namespace: &str, name: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        *count = count.saturating_add(1);
        RECONCILES.delay(*count, jitter())
    }

    /// The application's reconcile succeeded: its next failure waits the shortest time again.
    pub fn succeeded(&self, namespace: &str, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.is_empty() {
            failures.remove(&(namespace.to_string(), name.to_string()));
        }
    }
}

/// A number in [0, 1) that differs between calls: a fresh `RandomState` is seeded from the
/// process's random keys and a per-thread counter, which is all jitter needs.
pub fn jitter() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_within_their_jitter() {
        let delay = |failures, jitter| RECONCILES.delay(failures, jitter);
        assert_eq!(delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(delay(2, 1.0), Duration::from_millis(400));
        assert_eq!(delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(delay(7, 1.0), Duration::from_millis(10_000));
        assert_eq!(delay(1000, 1.0), RECONCILES.cap);
        assert_eq!(delay(1000, 0.0), RECONCILES.cap / 2);
    }

    #[test]
    fn a_success_starts_the_count_again() {
        let backoffs = Backoffs::default();
        for _ in 0..6 {
            backoffs.failed("default", "pi");
        }
        assert!(backoffs.failed("default", "pi") >= RECONCILES.cap / 2);
        assert!(backoffs.failed("default", "other") <= RECONCILES.base);
        backoffs.succeeded("default", "pi");
        assert!(backoffs.failed("default", "pi") <= RECONCILES.base);
    }

    #[test]
    fn jitter_spreads() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.iter().any(|j| *j < 0.5) && draws.iter().any(|j| *j >= 0.5));
    }
}
