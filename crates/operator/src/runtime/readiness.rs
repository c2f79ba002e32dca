//! What `/readyz` answers: a leader (or an operator without leader election) is ready once every
//! cache its reconciles read has been filled; a standby waiting for the lease is ready, since it
//! is healthy and able to take over, and must not hold up a rolling update.

use std::future::Future;
use std::sync::{Arc, Mutex};

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
}

/// Shared between the controllers, which report their caches, and the health endpoint.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<Mutex<State>>,
}

/// Whether a process in `role`, with that many caches still filling and filled, is ready, and why.
pub fn verdict(role: Role, pending: usize, synced: usize) -> (bool, String) {
    match role {
        Role::Starting => (false, "starting".into()),
        Role::Stopping => (false, "stopping".into()),
        Role::Standby => (true, "standby: waiting for the leader lease".into()),
        Role::Active if synced == 0 || pending > 0 => (
            false,
            format!("caches syncing: {synced} of {} filled", synced + pending),
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

    pub fn status(&self) -> (bool, String) {
        match self.state.lock() {
            Ok(state) => verdict(state.role, state.pending, state.synced),
            Err(_) => (false, "readiness state poisoned".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_once_every_cache_is_filled_or_as_a_standby() {
        assert!(!verdict(Role::Starting, 0, 0).0);
        assert!(!verdict(Role::Active, 0, 0).0);
        assert!(!verdict(Role::Active, 1, 2).0);
        assert!(verdict(Role::Active, 0, 3).0);
        assert!(verdict(Role::Standby, 0, 0).0);
        assert!(!verdict(Role::Stopping, 0, 3).0);
    }
}
