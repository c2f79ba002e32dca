//! The scheduling decision with a fixed clock.

use super::*;
use spark_operator_api::{ApplicationType, ScheduledSparkApplicationSpec, SparkApplicationSpec};

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn scheduled(
    schedule: &str,
    zone: Option<&str>,
    policy: ConcurrencyPolicy,
) -> ScheduledSparkApplication {
    let mut s = ScheduledSparkApplication::new(
        "nightly",
        ScheduledSparkApplicationSpec {
            schedule: schedule.into(),
            time_zone: zone.map(Into::into),
            concurrency_policy: Some(policy),
            template: SparkApplicationSpec {
                app_type: ApplicationType::Scala,
                spark_version: "4.0.0".into(),
                image: Some("apache/spark:4.0.0".into()),
                main_class: Some("org.apache.spark.examples.SparkPi".into()),
                main_application_file: Some(
                    "local:///opt/spark/examples/jars/spark-examples.jar".into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    s.metadata.namespace = Some("default".into());
    s.metadata.creation_timestamp = Some(Time(at("2026-03-01T00:00:00Z")));
    s
}

fn run(name: &str, created: &str, state: ApplicationStateType) -> Run {
    Run {
        name: name.into(),
        created: at(created),
        state,
    }
}

#[test]
fn nothing_due_yet_waits_for_the_first_time() {
    let s = scheduled("0 2 * * *", Some("UTC"), ConcurrencyPolicy::Allow);
    let d = decide(&s, &[], at("2026-03-01T01:00:00Z"));
    assert_eq!(d.start_run, None);
    assert_eq!(d.status.schedule_state, ScheduleState::Scheduled);
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-01T02:00:00Z"))));
    assert_eq!(
        d.requeue_after,
        Some(Duration::from_secs(3600) + Duration::from_millis(10))
    );
}

#[test]
fn a_due_time_starts_a_run_named_after_it() {
    let s = scheduled("0 2 * * *", Some("UTC"), ConcurrencyPolicy::Allow);
    let now = at("2026-03-01T02:00:03Z");
    let d = decide(&s, &[], now);
    let due = at("2026-03-01T02:00:00Z");
    assert_eq!(d.start_run, Some(format!("nightly-{}", due.as_second())));
    assert_eq!(d.status.last_run, Some(Time(due)));
    assert_eq!(d.status.last_run_name, d.start_run);
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-02T02:00:00Z"))));
}

#[test]
fn deciding_twice_names_the_same_run() {
    let s = scheduled("*/5 * * * *", None, ConcurrencyPolicy::Allow);
    let now = at("2026-03-01T00:07:00Z");
    assert_eq!(
        decide(&s, &[], now).start_run,
        decide(&s, &[], now).start_run
    );
}

#[test]
fn once_recorded_the_run_is_not_started_again() {
    let mut s = scheduled("*/5 * * * *", Some("UTC"), ConcurrencyPolicy::Allow);
    let first = decide(&s, &[], at("2026-03-01T00:05:01Z"));
    s.status = Some(first.status);
    let again = decide(&s, &[], at("2026-03-01T00:06:00Z"));
    assert_eq!(again.start_run, None);
}

#[test]
fn missed_runs_start_once_for_the_latest_missed_time() {
    let mut s = scheduled("@hourly", Some("UTC"), ConcurrencyPolicy::Allow);
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-01T03:00:00Z"))),
        ..Default::default()
    });
    // The operator was down from 03:30 to 07:20: 04:00, 05:00, 06:00 and 07:00 were missed.
    let d = decide(&s, &[], at("2026-03-01T07:20:00Z"));
    assert_eq!(
        d.start_run,
        Some(format!(
            "nightly-{}",
            at("2026-03-01T07:00:00Z").as_second()
        ))
    );
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-01T08:00:00Z"))));
}

#[test]
fn forbid_waits_for_the_running_run() {
    let mut s = scheduled("@every 10s", None, ConcurrencyPolicy::Forbid);
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-01T00:00:10Z"))),
        last_run_name: Some("nightly-a".into()),
        ..Default::default()
    });
    let running = [run(
        "nightly-a",
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Running,
    )];
    let d = decide(&s, &running, at("2026-03-01T00:00:21Z"));
    assert_eq!(d.start_run, None);
    assert!(d.delete_runs.is_empty());
    let done = [run(
        "nightly-a",
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Completed,
    )];
    assert!(
        decide(&s, &done, at("2026-03-01T00:00:25Z"))
            .start_run
            .is_some()
    );
}

#[test]
fn replace_deletes_the_running_run() {
    let mut s = scheduled("@every 10s", None, ConcurrencyPolicy::Replace);
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-01T00:00:10Z"))),
        ..Default::default()
    });
    let running = [run(
        "nightly-a",
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Running,
    )];
    let d = decide(&s, &running, at("2026-03-01T00:00:21Z"));
    assert!(d.start_run.is_some());
    assert_eq!(d.delete_runs, ["nightly-a"]);
}

#[test]
fn allow_runs_beside_the_running_run() {
    let mut s = scheduled("@every 10s", None, ConcurrencyPolicy::Allow);
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-01T00:00:10Z"))),
        ..Default::default()
    });
    let running = [run(
        "nightly-a",
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Running,
    )];
    let d = decide(&s, &running, at("2026-03-01T00:00:21Z"));
    assert!(d.start_run.is_some());
    assert!(d.delete_runs.is_empty());
}

#[test]
fn history_limits_keep_the_newest_runs() {
    let mut s = scheduled("@daily", None, ConcurrencyPolicy::Allow);
    s.spec.successful_run_history_limit = Some(2);
    s.spec.failed_run_history_limit = Some(1);
    let runs = [
        run(
            "r1",
            "2026-03-01T00:00:00Z",
            ApplicationStateType::Completed,
        ),
        run("r2", "2026-03-02T00:00:00Z", ApplicationStateType::Failed),
        run(
            "r3",
            "2026-03-03T00:00:00Z",
            ApplicationStateType::Completed,
        ),
        run("r4", "2026-03-04T00:00:00Z", ApplicationStateType::Failed),
        run(
            "r5",
            "2026-03-05T00:00:00Z",
            ApplicationStateType::Completed,
        ),
        run("r6", "2026-03-06T00:00:00Z", ApplicationStateType::Running),
    ];
    let d = decide(&s, &runs, at("2026-03-06T12:00:00Z"));
    assert_eq!(d.delete_runs, ["r1", "r2"]);
    assert_eq!(d.status.past_successful_run_names, ["r5", "r3"]);
    assert_eq!(d.status.past_failed_run_names, ["r4"]);
}

#[test]
fn suspended_schedules_start_nothing_and_have_no_next_run() {
    let mut s = scheduled("@every 10s", None, ConcurrencyPolicy::Allow);
    s.spec.suspend = Some(true);
    let d = decide(&s, &[], at("2026-03-02T00:00:00Z"));
    assert_eq!(d.start_run, None);
    assert_eq!(d.status.next_run, None);
    assert_eq!(d.requeue_after, None);
}

#[test]
fn invalid_schedules_fail_validation_with_the_reason() {
    let s = scheduled("every night", None, ConcurrencyPolicy::Allow);
    let d = decide(&s, &[], at("2026-03-02T00:00:00Z"));
    assert_eq!(d.status.schedule_state, ScheduleState::FailedValidation);
    assert!(d.status.reason.unwrap().contains("spec.schedule"));
    assert_eq!(d.start_run, None);
}

#[test]
fn time_zones_and_daylight_saving() {
    // 01:30 every day in New York: before the spring change that is 06:30 UTC, after it 05:30 UTC.
    let mut s = scheduled(
        "30 1 * * *",
        Some("America/New_York"),
        ConcurrencyPolicy::Allow,
    );
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-07T06:30:00Z"))),
        ..Default::default()
    });
    let d = decide(&s, &[], at("2026-03-07T12:00:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-08T06:30:00Z"))));
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at("2026-03-08T06:30:00Z"))),
        ..Default::default()
    });
    let d = decide(&s, &[], at("2026-03-09T05:30:01Z"));
    assert_eq!(
        d.start_run,
        Some(format!(
            "nightly-{}",
            at("2026-03-09T05:30:00Z").as_second()
        ))
    );
    // Tokyo has no daylight saving: 09:00 there is always 00:00 UTC.
    let tokyo = scheduled("0 9 * * *", Some("Asia/Tokyo"), ConcurrencyPolicy::Allow);
    let d = decide(&tokyo, &[], at("2026-03-01T00:00:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-02T00:00:00Z"))));
}
