//! What `/readyz` answers: a leader (or an operator without leader election) is ready once every
//! cache its reconciles read has been filled; a standby waiting for the lease is ready, since it
//! is healthy and able to take over, and must not hold up a rolling update.

use std::future::Future;
use std::sync::{Arc, Mutex};

/// How often the waits below look at the state.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The role of this process, as far as readiness goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Not yet running controllers nor standing for election.
    #[default]
    Starting,
    /// Waiting to acquire the leader lease.
    Standby,
    /// Running the controllers.
    Active,
    /// Shutting down, or the lease was lost.
    Stopping,
}

#[derive(Debug, Default)]
struct State {
    role: Role,
    /// Caches registered and not yet filled.
    pending: usize,
    /// Caches filled.
    synced: usize,
    /// Watches whose last attempt failed: the caches they fill may be behind the cluster.
    failing_watches: usize,
}

/// Shared between the controllers, which report their caches, and the health endpoint.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<Mutex<State>>,
}

/// Whether a process in `role`, with that many caches still filling and filled and that many
/// watches failing, is ready, and why.
pub fn verdict(
    role: Role,
    pending: usize,
    synced: usize,
    failing_watches: usize,
) -> (bool, String) {
    match role {
        Role::Starting => (false, "starting".into()),
        Role::Stopping => (false, "stopping".into()),
        Role::Standby => (true, "standby: waiting for the leader lease".into()),
        Role::Active if synced == 0 || pending > 0 => (
            false,
            format!("caches syncing: {synced} of {} filled", synced + pending),
        ),
        Role::Active if failing_watches > 0 => (
            false,
            format!("{failing_watches} watches failing: the caches may be behind the cluster"),
        ),
        Role::Active => (true, format!("ok: {synced} caches synced")),
    }
}

impl Readiness {
    pub fn set_role(&self, role: Role) {
        if let Ok(mut state) = self.state.lock() {
            state.role = role;
            if role != Role::Active {
                state.pending = 0;
                state.synced = 0;
                state.failing_watches = 0;
            }
        }
    }

    /// Counts a cache as filling until `filled` resolves (call inside a tokio runtime).
    pub fn track(&self, filled: impl Future<Output = ()> + Send + 'static) {
        if let Ok(mut state) = self.state.lock() {
            state.pending += 1;
        }
        let state = self.state.clone();
        tokio::spawn(async move {
            filled.await;
            if let Ok(mut state) = state.lock() {
                state.pending = state.pending.saturating_sub(1);
                state.synced += 1;
            }
        });
    }

    /// Whether the controllers are running (not a standby, not stopping).
    pub fn is_active(&self) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.role == Role::Active)
    }

    /// Resolves once the controllers run.
    pub async fn wait_until_active(&self) {
        while !self.is_active() {
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }

    /// Resolves once every cache registered so far is filled, while the controllers run.
    pub async fn wait_until_filled(&self) {
        loop {
            let filled = self.state.lock().is_ok_and(|state| {
                state.role == Role::Active && state.synced > 0 && state.pending == 0
            });
            if filled {
                return;
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }

    /// Counts a watch as failing (`true`) or as recovered (`false`).
    pub fn watch_failing(&self, failing: bool) {
        if let Ok(mut state) = self.state.lock() {
            state.failing_watches = if failing {
                state.failing_watches + 1
            } else {
                state.failing_watches.saturating_sub(1)
            };
        }
    }

    pub fn status(&self) -> (bool, String) {
        match self.state.lock() {
            Ok(state) => verdict(
                state.role,
                state.pending,
                state.synced,
                state.failing_watches,
            ),
            Err(_) => (false, "readiness state poisoned".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_once_every_cache_is_filled_or_as_a_standby() {
        assert!(!verdict(Role::Starting, 0, 0, 0).0);
        assert!(!verdict(Role::Active, 0, 0, 0).0);
        assert!(!verdict(Role::Active, 1, 2, 0).0);
        assert!(verdict(Role::Active, 0, 3, 0).0);
        assert!(verdict(Role::Standby, 0, 0, 0).0);
        assert!(!verdict(Role::Stopping, 0, 3, 0).0);
    }

    #[test]
    fn a_failing_watch_makes_an_active_operator_unready_until_it_recovers() {
        let (ready, why) = verdict(Role::Active, 0, 3, 1);
        assert!(!ready);
        assert!(why.contains("1 watches failing"), "{why}");
        assert!(
            verdict(Role::Standby, 0, 0, 2).0,
            "a standby watches nothing"
        );
        let readiness = Readiness::default();
        readiness.set_role(Role::Active);
        readiness.watch_failing(true);
        assert!(readiness.status().1.contains("syncing"));
        readiness.watch_failing(false);
        readiness.watch_failing(false);
        assert_eq!(readiness.state.lock().unwrap().failing_watches, 0);
    }
}
