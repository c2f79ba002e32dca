//! One step of the state machine per reconcile, state by state, as Kubeflow's reconciler takes it.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use spark_operator_api::defaults::application_defaults;
use spark_operator_api::{
    ApplicationState, ApplicationStateType as State, DriverInfo, RestartPolicy, SparkApplication,
    SparkApplicationSpec, SparkApplicationStatus,
};

use super::driver_state::update_driver_state;
use super::executors::update_executor_states;
use super::observe::DriverObservation;
use super::retry::{
    effective_ttl_seconds, requeue_in, set_count, should_retry, submission_id, time_to_live_left,
    time_until_retry,
};
use super::spec_change::{self, SpecChange};
use super::{Action, Decision, Observation, attempt, events, not_running};

/// A new state that the next reconcile carries on from, without waiting for anything.
const AT_ONCE: Duration = Duration::ZERO;
/// How often to look while objects of an earlier attempt are being deleted (only pods are
/// watched; Services and ConfigMaps go without an event).
const DELETION_POLL: Duration = Duration::from_secs(1);

/// The step being decided: the application, what was seen, and the status and actions so far.
struct Step<'a> {
    app: &'a SparkApplication,
    name: String,
    spec: SparkApplicationSpec,
    policy: RestartPolicy,
    observed: &'a Observation,
    status: SparkApplicationStatus,
    actions: Vec<Action>,
}

impl Step<'_> {
    fn state(&self) -> State {
        self.status.application_state.state
    }

    fn set_state(&mut self, state: State) {
        self.status.application_state.state = state;
    }

    fn done(self, requeue_after: Option<Duration>) -> Decision {
        Decision {
            status: self.status,
            actions: self.actions,
            requeue_after,
        }
    }
}

pub fn decide(app: &SparkApplication, observed: &Observation) -> Decision {
    let spec = application_defaults(&app.spec);
    let mut step = Step {
        app,
        name: app.name_any(),
        policy: spec.restart_policy.clone().unwrap_or_default(),
        spec,
        observed,
        status: app.status.clone().unwrap_or_default(),
        actions: Vec::new(),
    };
    if app.metadata.deletion_timestamp.is_some() {
        // Owner references take the attempt's objects with the application.
        return step.done(None);
    }

    let state = step.state();
    let suspend = step.spec.suspend == Some(true);
    if suspend && !state.is_final() && !matches!(state, State::Suspending | State::Suspended) {
        return start_suspending(step);
    }
    match spec_change::classify(app, &step.status, step.observed.settings.partial_restart) {
        SpecChange::None => {}
        SpecChange::Kept => spec_change::observe(&mut step.status, app),
        SpecChange::ExecutorPlacement => {
            spec_change::observe(&mut step.status, app);
            step.actions
                .push(events::executor_placement_updated(&step.name));
        }
        SpecChange::Rerun => {
            // A suspended, suspending or resuming application submits whatever spec it has when
            // it resumes, and a finished one is not rerun by suspending it.
            let absorbed = matches!(
                state,
                State::Suspending | State::Suspended | State::Resuming
            ) || (suspend && state.is_final());
            if !absorbed {
                return invalidate(step);
            }
            spec_change::observe(&mut step.status, app);
        }
    }

    match state {
        State::New => submit_new(step),
        State::Submitted | State::Running | State::Unknown => follow_driver(step),
        State::Succeeding => succeeding(step),
        State::Failing => failing(step),
        State::SubmissionFailed => submission_failed(step),
        State::PendingRerun | State::Resuming => submit_attempt(step),
        State::Invalidating => rerun_from_invalidation(step),
        State::Suspending => suspending(step),
        State::Suspended => suspended(step),
        State::Completed | State::Failed => finished(step),
    }
}

/// Kubeflow's `transitionToSuspending`; the spec the application resumes with is the one it has
/// then, so this generation counts as seen.
fn start_suspending(mut step: Step) -> Decision {
    step.set_state(State::Suspending);
    spec_change::observe(&mut step.status, step.app);
    step.actions.push(events::suspending(&step.name));
    step.done(Some(AT_ONCE))
}

/// Kubeflow sets INVALIDATING when the spec changes; the new generation is the one to run.
fn invalidate(mut step: Step) -> Decision {
    step.set_state(State::Invalidating);
    spec_change::observe(&mut step.status, step.app);
    step.done(Some(AT_ONCE))
}

/// A new application is announced with its first submission (or adoption), not while it waits.
fn submit_new(step: Step) -> Decision {
    let name = step.name.clone();
    let mut decision = submit_attempt(step);
    let submits = decision.status.application_state.state != State::New
        || decision
            .actions
            .iter()
            .any(|action| matches!(action, Action::Submit { .. }));
    if submits {
        decision.actions.insert(0, events::added(&name));
    }
    decision
}

/// Submits the next attempt: adopts its driver if a repeated step already created it, resumes it
/// if only its own objects exist, and waits for the objects of any other attempt to be deleted.
fn submit_attempt(mut step: Step) -> Decision {
    let next = submission_id(step.app, &step.status);
    let now = step.observed.now;
    if let DriverObservation::Pod(driver) = &step.observed.driver
        && driver.submission_id.as_ref() == Some(&next)
    {
        attempt::begin(&mut step.status, step.app, next, now);
        attempt::succeed(
            &mut step.status,
            driver.name.clone(),
            driver.spark_app_id.clone(),
        );
        step.actions.push(events::submitted(&step.name));
        return step.done(None);
    }
    let others_left = step
        .observed
        .attempts_with_resources
        .iter()
        .any(|attempt| *attempt != next);
    if others_left {
        step.actions.push(Action::DeleteAttemptResources);
        return step.done(Some(DELETION_POLL));
    }
    attempt::begin(&mut step.status, step.app, next.clone(), now);
    step.actions.push(Action::Submit {
        submission_id: next,
    });
    step.done(None)
}

/// SUBMITTED, RUNNING and UNKNOWN follow the driver, then the executors.
fn follow_driver(mut step: Step) -> Decision {
    let observed = step.observed;
    if let Some(grace_left) = update_driver_state(&mut step.status, observed, &mut step.actions) {
        return step.done(Some(requeue_in(grace_left)));
    }
    update_executor_states(&mut step.status, observed, &mut step.actions);
    let timeout = not_running::explain(
        step.app,
        &step.spec,
        &mut step.status,
        observed,
        &mut step.actions,
    );
    let requeue = match step.state() {
        State::Succeeding | State::Failing => Some(AT_ONCE),
        _ => timeout,
    };
    step.done(requeue)
}

fn succeeding(mut step: Step) -> Decision {
    if should_retry(&step.policy, &step.status) {
        return rerun(step);
    }
    step.set_state(State::Completed);
    step.actions.push(Action::ReleaseEnded);
    step.actions.push(events::completed(&step.name));
    let requeue = time_to_live(&step).map(requeue_in);
    step.done(requeue)
}

fn failing(mut step: Step) -> Decision {
    if should_retry(&step.policy, &step.status) {
        let wait = time_until_retry(&step.policy, &step.status, step.observed.now);
        if wait.is_positive() {
            return step.done(Some(requeue_in(wait)));
        }
        return rerun(step);
    }
    step.status
        .termination_time
        .get_or_insert(Time(step.observed.now));
    fail(step)
}

fn submission_failed(mut step: Step) -> Decision {
    if should_retry(&step.policy, &step.status) {
        let wait = time_until_retry(&step.policy, &step.status, step.observed.now);
        if wait.is_positive() {
            return step.done(Some(requeue_in(wait)));
        }
        return submit_attempt(step);
    }
    step.status.termination_time = Some(Time(step.observed.now));
    fail(step)
}

fn fail(mut step: Step) -> Decision {
    step.set_state(State::Failed);
    step.actions.push(Action::ReleaseEnded);
    let error = step
        .status
        .application_state
        .error_message
        .clone()
        .unwrap_or_default();
    step.actions.push(events::failed(&step.name, &error));
    let requeue = time_to_live(&step).map(requeue_in);
    step.done(requeue)
}

/// From SUCCEEDING or FAILING to another run: the attempt's objects go, and what described it.
fn rerun(mut step: Step) -> Decision {
    let status = &mut step.status;
    status.spark_application_id = None;
    status.termination_time = None;
    status.driver_info = DriverInfo::default();
    status.executor_state.clear();
    to_pending_rerun(step)
}

/// Kubeflow's invalidation also starts the attempt counters afresh.
fn rerun_from_invalidation(mut step: Step) -> Decision {
    let status = &mut step.status;
    status.spark_application_id = None;
    set_count(&mut status.submission_attempts, 0);
    set_count(&mut status.execution_attempts, 0);
    status.last_submission_attempt_time = None;
    status.termination_time = None;
    status.driver_info = DriverInfo::default();
    status.executor_state.clear();
    to_pending_rerun(step)
}

fn to_pending_rerun(mut step: Step) -> Decision {
    step.status.application_state = ApplicationState {
        state: State::PendingRerun,
        error_message: None,
    };
    step.actions.push(Action::DeleteAttemptResources);
    step.actions.push(events::pending_rerun(&step.name));
    step.done(Some(AT_ONCE))
}

/// SUSPENDING deletes the attempt's objects and is SUSPENDED once they are gone.
fn suspending(mut step: Step) -> Decision {
    step.actions.push(Action::DeleteAttemptResources);
    if !step.observed.attempts_with_resources.is_empty() {
        return step.done(Some(DELETION_POLL));
    }
    let status = &mut step.status;
    status.application_state = ApplicationState {
        state: State::Suspended,
        error_message: None,
    };
    status.spark_application_id = None;
    status.driver_info = DriverInfo::default();
    status.executor_state.clear();
    step.actions.push(events::suspended(&step.name));
    step.done(None)
}

fn suspended(mut step: Step) -> Decision {
    if step.spec.suspend != Some(true) {
        step.set_state(State::Resuming);
        step.actions.push(events::resuming(&step.name));
        return step.done(Some(AT_ONCE));
    }
    if !step.observed.attempts_with_resources.is_empty() {
        step.actions.push(Action::DeleteAttemptResources);
        return step.done(Some(DELETION_POLL));
    }
    step.done(None)
}

/// COMPLETED and FAILED: deleted once their time to live is over; until then their executors
/// are still followed, as Spark winds them down.
fn finished(mut step: Step) -> Decision {
    let left = time_to_live(&step);
    if left.is_some_and(|left| !left.is_positive()) {
        step.actions.push(Action::DeleteApplication);
        return step.done(None);
    }
    let observed = step.observed;
    update_executor_states(&mut step.status, observed, &mut step.actions);
    step.done(left.map(requeue_in))
}

fn time_to_live(step: &Step) -> Option<jiff::SignedDuration> {
    let ttl = effective_ttl_seconds(
        step.spec.time_to_live_seconds,
        step.observed.settings.default_time_to_live_seconds,
    );
    time_to_live_left(
        ttl,
        step.status.termination_time.as_ref(),
        step.observed.now,
    )
}
