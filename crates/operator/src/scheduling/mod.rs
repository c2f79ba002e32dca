//! When a ScheduledSparkApplication starts its next run, as a pure function of (the scheduled
//! application, its runs, now). The controller lists the runs, calls `decide`, and carries out the
//! decision.
//!
//! Missed runs are handled as Kubeflow's operator handles them: however many scheduled times passed
//! while the operator was down, one run starts when it comes back (for the latest missed time), and
//! the next run is the first scheduled time after now. Runs are named after their scheduled time,
//! so an operator restarted between creating a run and recording it finds that run instead of
//! starting a second one.

mod run_names;

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use spark_operator_api::defaults::scheduled_defaults;
use spark_operator_api::schedule::{Schedule, time_zone};
use spark_operator_api::validation::{describe, validate_scheduled};

pub use run_names::{RunNamePrecision, longest_schedule_name, run_name, scheduled_time_of};
use spark_operator_api::{
    ApplicationStateType, ConcurrencyPolicy, ScheduleState, ScheduledSparkApplication,
    ScheduledSparkApplicationStatus,
};

/// One SparkApplication created by the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub name: String,
    pub created: Timestamp,
    pub state: ApplicationStateType,
}

impl Run {
    fn is_finished(&self) -> bool {
        self.state.is_final()
    }
}

/// What the controller does next.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScheduleDecision {
    pub status: ScheduledSparkApplicationStatus,
    /// Create this run (named for its scheduled time).
    pub start_run: Option<String>,
    /// Delete these runs: beyond the history limits, or replaced (`Replace` policy).
    pub delete_runs: Vec<String>,
    /// Look again then (the next scheduled time), if ever.
    pub requeue_after: Option<Duration>,
}

/// The decision for `scheduled` at `now`, given all of its runs, with runs named to the second.
pub fn decide(
    scheduled: &ScheduledSparkApplication,
    runs: &[Run],
    now: Timestamp,
) -> ScheduleDecision {
    decide_with_precision(scheduled, runs, now, RunNamePrecision::default())
}

/// The decision for `scheduled` at `now`, given all of its runs, naming runs with `precision`.
pub fn decide_with_precision(
    scheduled: &ScheduledSparkApplication,
    runs: &[Run],
    now: Timestamp,
    precision: RunNamePrecision,
) -> ScheduleDecision {
    let mut status = scheduled.status.clone().unwrap_or_default();
    let mut problems = describe(&validate_scheduled(scheduled));
    let longest = longest_schedule_name(precision);
    let length = scheduled.name_any().len();
    // Longer than SCHEDULED_NAME_MAX is reported by validation, whatever the precision.
    if length > longest && length <= spark_operator_api::naming::SCHEDULED_NAME_MAX {
        problems.push_str(&format!(
            "{}metadata.name: its runs would be named {:?} and longer than an application's name may be: with --scheduled-spark-application-timestamp-precision={} a schedule's name has at most {longest} characters; shorten it or choose a coarser precision",
            if problems.is_empty() { "" } else { "\n" },
            run_name(&scheduled.name_any(), now, precision),
            precision.name(),
        ));
    }
    if !problems.is_empty() {
        status.schedule_state = ScheduleState::FailedValidation;
        status.reason = Some(problems);
        return ScheduleDecision {
            status,
            ..Default::default()
        };
    }
    let spec = scheduled_defaults(&scheduled.spec);
    let (schedule, zone) = match (
        Schedule::parse(&spec.schedule),
        time_zone(spec.time_zone.as_deref()),
    ) {
        (Ok(schedule), Ok(zone)) => (schedule, zone),
        // Validation accepts both; kept as a failure rather than a panic should the two ever drift.
        (Err(e), _) | (_, Err(e)) => {
            status.schedule_state = ScheduleState::FailedValidation;
            status.reason = Some(e.to_string());
            return ScheduleDecision {
                status,
                ..Default::default()
            };
        }
    };
    status.schedule_state = ScheduleState::Scheduled;
    status.reason = None;

    let mut decision = ScheduleDecision {
        delete_runs: beyond_history_limits(
            runs,
            spec.successful_run_history_limit.unwrap_or(1),
            spec.failed_run_history_limit.unwrap_or(1),
        ),
        ..Default::default()
    };
    let kept: Vec<Run> = runs
        .iter()
        .filter(|r| !decision.delete_runs.contains(&r.name))
        .cloned()
        .collect();
    record_history(&mut status, &kept);

    if spec.suspend == Some(true) {
        status.next_run = None;
        decision.status = status;
        return decision;
    }

    let name = scheduled.name_any();
    let created = scheduled
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    // Whole seconds, as the status stores its times and runs are named.
    let created = Timestamp::from_second(created.as_second()).unwrap_or(created);
    // Times are counted from the latest one already started: the one the status records, or the
    // one an existing run is named after (an operator that stopped between creating a run and
    // recording it, or a status read before the last write reached the cache).
    let newest_run = runs
        .iter()
        .filter_map(|r| Some((scheduled_time_of(&name, &r.name)?, &r.name)))
        .max();
    let recorded = status.last_run.as_ref().map(|t| t.0);
    if let Some((time, run_name)) = newest_run.filter(|(t, _)| recorded.is_none_or(|r| *t > r)) {
        status.last_run = Some(Time(time));
        status.last_run_name = Some(run_name.clone());
    }
    let counted_from = status.last_run.as_ref().map_or(created, |t| t.0);
    let Some(due) = latest_due(&schedule, &zone, counted_from, now) else {
        // Counted from the last time, not from now: an `@every` schedule keeps its cadence and
        // the status stays the same from one reconcile to the next.
        let next = schedule.next_after(counted_from, &zone);
        status.next_run = next.map(Time);
        decision.requeue_after = next.map(|n| until(now, n));
        decision.status = status;
        return decision;
    };

    let active: Vec<&Run> = runs.iter().filter(|r| !r.is_finished()).collect();
    let start = match spec.concurrency_policy.unwrap_or_default() {
        ConcurrencyPolicy::Allow => true,
        ConcurrencyPolicy::Forbid => active.is_empty(),
        ConcurrencyPolicy::Replace => {
            decision
                .delete_runs
                .extend(active.iter().map(|r| r.name.clone()));
            true
        }
    };
    if start {
        let run_name = run_name(&name, due, precision);
        let next = schedule.next_after(due, &zone);
        status.last_run = Some(Time(due));
        status.last_run_name = Some(run_name.clone());
        decision.start_run = Some(run_name);
        status.next_run = next.map(Time);
        decision.requeue_after = next.map(|n| until(now, n));
    } else {
        // Forbid with a run still going: the due time stays pending, and its run starts as soon
        // as the running one ends (the run's change wakes the controller; the requeue is a
        // safety net).
        status.next_run = Some(Time(due));
        decision.requeue_after = Some(Duration::from_secs(1));
    }
    decision.delete_runs.sort();
    decision.delete_runs.dedup();
    decision.status = status;
    decision
}

/// The latest scheduled time in (after, now], if one has come.
fn latest_due(
    schedule: &Schedule,
    zone: &TimeZone,
    after: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    if let Schedule::Every(interval) = schedule {
        // after + k * interval for the largest k >= 1 that is not later than now.
        let elapsed = now.duration_since(after).as_nanos();
        let step = interval.as_nanos();
        if step <= 0 || elapsed < step {
            return None;
        }
        let offset = SignedDuration::try_from_nanos_i128(elapsed - elapsed % step)?;
        return after.checked_add(offset).ok();
    }
    // Walking forward from the last time keeps a fixed-time job to one run in an hour repeated
    // when the clocks fall back.
    let mut due = None;
    let mut cursor = after;
    for _ in 0..10_000 {
        match schedule.next_after(cursor, zone) {
            Some(t) if t <= now => {
                due = Some(t);
                cursor = t;
            }
            _ => return due,
        }
    }
    // More than 10,000 times missed (a week of a job every minute): the latest one before now.
    schedule
        .latest_at_or_before(now, zone)
        .filter(|t| *t > after)
        .or(due)
}

fn until(now: Timestamp, then: Timestamp) -> Duration {
    let span = then.duration_since(now);
    Duration::try_from(span).unwrap_or_default() + Duration::from_millis(10)
}

/// Past runs by outcome, newest first, as Kubeflow lists them.
fn record_history(status: &mut ScheduledSparkApplicationStatus, runs: &[Run]) {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
    status.past_successful_run_names = sorted
        .iter()
        .filter(|r| r.state == ApplicationStateType::Completed)
        .map(|r| r.name.clone())
        .collect();
    status.past_failed_run_names = sorted
        .iter()
        .filter(|r| r.state == ApplicationStateType::Failed)
        .map(|r| r.name.clone())
        .collect();
}

/// Finished runs beyond the history limits, oldest first.
fn beyond_history_limits(runs: &[Run], successful_limit: i32, failed_limit: i32) -> Vec<String> {
    let mut doomed = Vec::new();
    for (state, limit) in [
        (ApplicationStateType::Completed, successful_limit),
        (ApplicationStateType::Failed, failed_limit),
    ] {
        let mut finished: Vec<&Run> = runs.iter().filter(|r| r.state == state).collect();
        finished.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
        let keep = usize::try_from(limit.max(0)).unwrap_or(0);
        doomed.extend(finished.iter().skip(keep).map(|r| r.name.clone()));
    }
    doomed
}

#[cfg(test)]
mod tests;
