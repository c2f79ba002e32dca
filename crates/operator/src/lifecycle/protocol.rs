//! The one reconcile protocol: how a [`Decision`] is carried out, in which order, and when its
//! status and events are recorded. The controller runs it against the API server and this
//! module's tests run it against a model cluster, through the same function, so the protocol
//! they test is the one that runs.
//!
//! The order matters for exactly-once submission and for honest events:
//!
//! 1. A decision that the driver is missing is a conclusion from absence, which a cache behind
//!    the API server draws wrongly: it is confirmed first ([`Effects::driver_exists`]).
//! 2. The decision's actions are carried out in order; a submission's outcome gives the decision
//!    that follows ([`after_submission`]), whose actions are carried out too and whose status
//!    replaces the first.
//! 3. The status is written, and only then the events, so that a reconcile repeated after a
//!    failed write does not report the same transition twice.
//!
//! Any error stops the protocol where it is: nothing after it happens, and the next reconcile
//! decides again from what the cluster then holds.

use std::time::Duration;

use spark_operator_api::{SparkApplication, SparkApplicationStatus};

use super::{Action, Decision, Observation, SubmissionOutcome, after_submission, decide};

/// How soon an application whose driver pod the cache has not caught up with is looked at again.
pub const CACHE_BEHIND_RETRY: Duration = Duration::from_secs(1);

/// What carrying out a decision does to the cluster. The controller's implementation makes
/// requests; the tests' implementation changes a model.
#[allow(async_fn_in_trait)] // implemented and called within this crate only
pub trait Effects {
    type Error;

    /// Whether the driver pod of the attempt `status` follows exists after all, asked of the
    /// source of truth rather than the cache the decision was made from.
    async fn driver_exists(&mut self, status: &SparkApplicationStatus)
    -> Result<bool, Self::Error>;

    /// Creates the objects of attempt `submission_id`. A failure that is the attempt's is
    /// [`SubmissionOutcome::Failed`]; an error is one that is not (the reconcile is retried).
    async fn submit(&mut self, submission_id: &str) -> Result<SubmissionOutcome, Self::Error>;

    /// Deletes every object of the application's attempts.
    async fn delete_attempt_resources(&mut self) -> Result<(), Self::Error>;

    /// Deletes what the ended application no longer needs (see [`Action::ReleaseEnded`]).
    async fn release_ended(&mut self) -> Result<(), Self::Error>;

    /// Deletes the application itself.
    async fn delete_application(&mut self) -> Result<(), Self::Error>;

    /// Writes `status` as the application's status (when it changed).
    async fn write_status(&mut self, status: SparkApplicationStatus) -> Result<(), Self::Error>;

    /// Records an Event on the application.
    async fn record_event(
        &mut self,
        warning: bool,
        reason: &'static str,
        message: &str,
    ) -> Result<(), Self::Error>;
}

/// What one run of the protocol did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// Every action carried out, events included, in the order the decisions listed them.
    pub actions: Vec<Action>,
    /// When to look again even if nothing changes; `None` leaves it to the periodic resync.
    pub requeue_after: Option<Duration>,
}

/// Decides the next step of `app` from `observed` and carries it out through `effects`.
pub async fn reconcile<E: Effects>(
    app: &SparkApplication,
    observed: &Observation,
    effects: &mut E,
) -> Result<Reconciled, E::Error> {
    let mut decision = decide(app, observed);
    if decision.concludes_driver_missing() {
        let current = app.status.clone().unwrap_or_default();
        if effects.driver_exists(&current).await? {
            // The pod's watch event brings the application back; the requeue is a fallback.
            return Ok(Reconciled {
                actions: Vec::new(),
                requeue_after: Some(CACHE_BEHIND_RETRY),
            });
        }
    }
    let mut carried_out = Vec::new();
    let mut follow_up = None;
    for action in std::mem::take(&mut decision.actions) {
        if let Some(next) = carry_out(app, observed, &decision.status, &action, effects).await? {
            follow_up = Some(next);
        }
        carried_out.push(action);
    }
    if let Some(mut next) = follow_up {
        for action in std::mem::take(&mut next.actions) {
            carry_out(app, observed, &next.status, &action, effects).await?;
            carried_out.push(action);
        }
        decision = next;
    }
    effects.write_status(decision.status).await?;
    for action in &carried_out {
        if let Action::Event {
            warning,
            reason,
            message,
        } = action
        {
            effects.record_event(*warning, reason, message).await?;
        }
    }
    Ok(Reconciled {
        actions: carried_out,
        requeue_after: decision.requeue_after,
    })
}

/// Carries out one action other than an event (events wait for the status); a submission gives
/// the decision that follows from its outcome.
async fn carry_out<E: Effects>(
    app: &SparkApplication,
    observed: &Observation,
    status: &SparkApplicationStatus,
    action: &Action,
    effects: &mut E,
) -> Result<Option<Decision>, E::Error> {
    match action {
        Action::Submit { submission_id } => {
            let outcome = effects.submit(submission_id).await?;
            Ok(Some(after_submission(app, status, outcome, observed.now)))
        }
        Action::DeleteAttemptResources => effects.delete_attempt_resources().await.map(|()| None),
        Action::ReleaseEnded => effects.release_ended().await.map(|()| None),
        Action::DeleteApplication => effects.delete_application().await.map(|()| None),
        Action::Event { .. } => Ok(None),
    }
}
