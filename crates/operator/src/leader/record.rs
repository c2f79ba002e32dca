//! The pure side of leader election: what a candidate or the leader writes into the Lease, and
//! when a lease held by another may be taken. The rules are client-go's `LeaseLock`:
//!
//! - A lease whose holder is empty (released) or that is ours is taken or renewed at once.
//! - A lease held by another may be taken only once its record has stayed the same for its
//!   `leaseDurationSeconds`, measured on this process's monotonic clock from when the record was
//!   first seen in that form, so that clock skew between machines does not matter.
//! - Writes are guarded by the Lease's resourceVersion, so two candidates never both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use tokio::time::Instant;

/// client-go's `JitterFactor`: the renew deadline must leave room for a jittered retry.
const JITTER_FACTOR: f64 = 1.2;

/// Kubeflow's (controller-runtime's) timing flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a standby waits, after the last renewal it saw, before it takes the lease.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops acting.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire, and the leader renews.
    pub retry_period: Duration,
}

impl Default for Timings {
    /// Kubeflow's defaults.
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(14),
            retry_period: Duration::from_secs(4),
        }
    }
}

impl Timings {
    /// The rules client-go enforces, so that a leader always stops before its lease runs out.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration < Duration::from_secs(1) {
            return Err(format!(
                "--leader-election-lease-duration must be at least 1s (a Lease counts whole seconds), not {:?}",
                self.lease_duration
            ));
        }
        if self.retry_period.is_zero() {
            return Err("--leader-election-retry-period must be more than 0".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "--leader-election-renew-deadline ({:?}) must be shorter than --leader-election-lease-duration ({:?}): a leader must stop acting before its lease can be taken",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(format!(
                "--leader-election-renew-deadline ({:?}) must be more than {JITTER_FACTOR} x --leader-election-retry-period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        Ok(())
    }

    /// The lease duration as the Lease records it (whole seconds, rounded up).
    pub fn lease_seconds(&self) -> i32 {
        let millis = self.lease_duration.as_millis();
        i32::try_from(millis.div_ceil(1000)).unwrap_or(i32::MAX)
    }
}

/// A lease record as a candidate saw it, and since when it has looked exactly like this.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub spec: LeaseSpec,
    pub since: Instant,
}

/// Remembers `spec` as seen at `now`; an unchanged record keeps the time it was first seen.
pub fn observe(previous: Option<Observed>, spec: LeaseSpec, now: Instant) -> Observed {
    match previous {
        Some(previous) if previous.spec == spec => previous,
        _ => Observed { spec, since: now },
    }
}

/// What a candidate (or the leader) should do with the lease now.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// No Lease exists: create it, held by us.
    Create(LeaseSpec),
    /// Write this record (acquiring or renewing), guarded by the resourceVersion that was read.
    Update(LeaseSpec),
    /// Another holder's lease is still valid; it can be taken in `free_in` at the earliest.
    HeldByOther { holder: String, free_in: Duration },
}

/// The holder of a record; an empty identity (a released lease) is no holder.
pub fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

/// The next step of `identity` given what it has observed of the lease.
pub fn attempt(
    identity: &str,
    observed: Option<&Observed>,
    timings: &Timings,
    now: Instant,
    wall: jiff::Timestamp,
) -> Attempt {
    let Some(observed) = observed else {
        return Attempt::Create(LeaseSpec {
            holder_identity: Some(identity.to_string()),
            lease_duration_seconds: Some(timings.lease_seconds()),
            acquire_time: Some(MicroTime(wall)),
            renew_time: Some(MicroTime(wall)),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        });
    };
    let current = &observed.spec;
    let mut next = current.clone();
    next.lease_duration_seconds = Some(timings.lease_seconds());
    next.renew_time = Some(MicroTime(wall));
    match holder(current) {
        Some(holder) if holder == identity => return Attempt::Update(next),
        Some(holder) => {
            let their_duration = current
                .lease_duration_seconds
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s as u64))
                .unwrap_or(timings.lease_duration);
            let free_at = observed.since + their_duration;
            if free_at > now {
                return Attempt::HeldByOther {
                    holder: holder.to_string(),
                    free_in: free_at - now,
                };
            }
        }
        None => {}
    }
    next.holder_identity = Some(identity.to_string());
    next.acquire_time = Some(MicroTime(wall));
    if current.holder_identity.as_deref() != Some(identity) {
        next.lease_transitions = Some(current.lease_transitions.unwrap_or(0).saturating_add(1));
    }
    Attempt::Update(next)
}

/// The record a leader writes when it steps down: no holder, so a standby takes over at once.
pub fn released(spec: &LeaseSpec, wall: jiff::Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(String::new()),
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(wall)),
        renew_time: Some(MicroTime(wall)),
        ..spec.clone()
    }
}

/// Whether the leader, last renewed at `last_renewed` (the time its successful renewal was
/// sent), has run out of time to renew and must stop acting.
pub fn renewal_overdue(last_renewed: Instant, timings: &Timings, now: Instant) -> bool {
    now >= last_renewed + timings.renew_deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings() -> Timings {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn held_by(holder: &str, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn kubeflow_defaults_are_valid_and_bad_combinations_are_named() {
        assert_eq!(timings().validate(), Ok(()));
        assert_eq!(Timings::default().validate(), Ok(()));
        let too_long = Timings {
            renew_deadline: Duration::from_secs(15),
            ..timings()
        };
        assert!(too_long.validate().unwrap_err().contains("renew-deadline"));
        let jitter = Timings {
            renew_deadline: Duration::from_secs(2),
            ..timings()
        };
        assert!(jitter.validate().unwrap_err().contains("1.2 x"));
        let short = Timings {
            lease_duration: Duration::from_millis(500),
            ..timings()
        };
        assert!(short.validate().unwrap_err().contains("at least 1s"));
        let zero = Timings {
            retry_period: Duration::ZERO,
            ..timings()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn lease_seconds_round_up() {
        let t = Timings {
            lease_duration: Duration::from_millis(2500),
            ..timings()
        };
        assert_eq!(t.lease_seconds(), 3);
    }

    #[test]
    fn a_missing_lease_is_created_held_by_us() {
        let now = Instant::now();
        let Attempt::Create(spec) = attempt("a", None, &timings(), now, jiff::Timestamp::now())
        else {
            panic!("expected a create")
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
    }

    #[test]
    fn our_own_lease_is_renewed_keeping_its_acquire_time() {
        let now = Instant::now();
        let mut mine = held_by("a", 3);
        mine.acquire_time = Some(MicroTime(jiff::Timestamp::UNIX_EPOCH));
        let observed = observe(None, mine, now);
        let wall = jiff::Timestamp::now();
        let Attempt::Update(next) = attempt("a", Some(&observed), &timings(), now, wall) else {
            panic!("expected a renewal")
        };
        assert_eq!(
            next.acquire_time,
            Some(MicroTime(jiff::Timestamp::UNIX_EPOCH))
        );
        assert_eq!(next.renew_time, Some(MicroTime(wall)));
        assert_eq!(next.lease_transitions, Some(3));
    }

    #[test]
    fn another_holders_lease_is_free_only_after_it_stayed_unchanged_for_its_duration() {
        let start = Instant::now();
        let observed = observe(None, held_by("b", 1), start);
        let wall = jiff::Timestamp::now();
        let early = attempt(
            "a",
            Some(&observed),
            &timings(),
            start + Duration::from_secs(14),
            wall,
        );
        assert_eq!(
            early,
            Attempt::HeldByOther {
                holder: "b".into(),
                free_in: Duration::from_secs(1)
            }
        );
        let late = attempt(
            "a",
            Some(&observed),
            &timings(),
            start + Duration::from_secs(15),
            wall,
        );
        let Attempt::Update(next) = late else {
            panic!("expected a take-over")
        };
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(2));
        assert_eq!(next.acquire_time, Some(MicroTime(wall)));
    }

    #[test]
    fn a_renewal_seen_resets_the_wait() {
        let start = Instant::now();
        let first = observe(None, held_by("b", 1), start);
        let same = observe(
            Some(first.clone()),
            held_by("b", 1),
            start + Duration::from_secs(5),
        );
        assert_eq!(same.since, start);
        let mut renewed = held_by("b", 1);
        renewed.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        let later = start + Duration::from_secs(10);
        let changed = observe(Some(same), renewed, later);
        assert_eq!(changed.since, later);
        assert!(matches!(
            attempt(
                "a",
                Some(&changed),
                &timings(),
                start + Duration::from_secs(20),
                jiff::Timestamp::now()
            ),
            Attempt::HeldByOther { .. }
        ));
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let now = Instant::now();
        let released = released(&held_by("b", 4), jiff::Timestamp::now());
        assert_eq!(holder(&released), None);
        assert_eq!(released.lease_transitions, Some(4));
        let observed = observe(None, released, now);
        let Attempt::Update(next) = attempt(
            "a",
            Some(&observed),
            &timings(),
            now,
            jiff::Timestamp::now(),
        ) else {
            panic!("expected an acquisition")
        };
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(5));
        assert_eq!(next.lease_duration_seconds, Some(15));
    }

    #[test]
    fn the_leader_stops_at_the_renew_deadline_which_is_before_the_lease_ends() {
        let t = timings();
        let renewed = Instant::now();
        assert!(!renewal_overdue(
            renewed,
            &t,
            renewed + Duration::from_millis(9_999)
        ));
        assert!(renewal_overdue(renewed, &t, renewed + t.renew_deadline));
        assert!(t.renew_deadline < t.lease_duration);
    }
}
