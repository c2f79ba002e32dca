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

fn last_ran(s: &mut ScheduledSparkApplication, at_text: &str) {
    s.status = Some(ScheduledSparkApplicationStatus {
        last_run: Some(Time(at(at_text))),
        ..Default::default()
    });
}

fn run_at(text: &str) -> Option<String> {
    Some(format!("nightly-{}", at(text).as_second()))
}

#[test]
fn spring_forward_runs_a_time_in_the_gap_once_right_after_it() {
    // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT, so 02:30 does not exist that day.
    let mut s = scheduled(
        "30 2 * * *",
        Some("America/New_York"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-03-07T07:30:00Z"); // 02:30 EST
    let d = decide(&s, &[], at("2026-03-08T06:59:59Z"));
    assert_eq!(d.start_run, None);
    // The first instant after the gap, 03:00 EDT.
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-08T07:00:00Z"))));
    let d = decide(&s, &[], at("2026-03-08T07:00:01Z"));
    assert_eq!(d.start_run, run_at("2026-03-08T07:00:00Z"));
    // The day after, 02:30 EDT again.
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-09T06:30:00Z"))));

    // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST.
    let mut s = scheduled(
        "30 2 * * *",
        Some("Europe/Berlin"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-03-28T01:30:00Z"); // 02:30 CET
    let d = decide(&s, &[], at("2026-03-29T01:00:30Z"));
    assert_eq!(d.start_run, run_at("2026-03-29T01:00:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-30T00:30:00Z"))));
}

#[test]
fn fall_back_runs_a_fixed_time_once_in_the_repeated_hour() {
    // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST, so 01:30 comes twice (05:30Z and 06:30Z).
    let mut s = scheduled(
        "30 1 * * *",
        Some("America/New_York"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-10-31T05:30:00Z");
    let d = decide(&s, &[], at("2026-11-01T05:30:02Z"));
    assert_eq!(d.start_run, run_at("2026-11-01T05:30:00Z"));
    s.status = Some(d.status);
    let d = decide(&s, &[], at("2026-11-01T06:30:02Z"));
    assert_eq!(d.start_run, None, "the second 01:30 is not a new run");
    // The next day 01:30 EST.
    assert_eq!(d.status.next_run, Some(Time(at("2026-11-02T06:30:00Z"))));

    // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 comes twice (00:30Z and 01:30Z).
    let mut s = scheduled(
        "30 2 * * *",
        Some("Europe/Berlin"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-10-24T00:30:00Z");
    let d = decide(&s, &[], at("2026-10-25T01:45:00Z"));
    // Down over both: one run, for the first 02:30.
    assert_eq!(d.start_run, run_at("2026-10-25T00:30:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-10-26T01:30:00Z"))));
}

#[test]
fn fall_back_runs_an_interval_job_in_both_passes_of_the_hour() {
    // Every 30 minutes in New York runs at 01:00 and 01:30 EDT, then at 01:00 and 01:30 EST.
    let mut s = scheduled(
        "*/30 * * * *",
        Some("America/New_York"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-11-01T05:30:00Z"); // 01:30 EDT
    let d = decide(&s, &[], at("2026-11-01T05:45:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-11-01T06:00:00Z"))));
    let d = decide(&s, &[], at("2026-11-01T06:00:01Z"));
    assert_eq!(d.start_run, run_at("2026-11-01T06:00:00Z"));
}

#[test]
fn missed_runs_across_a_daylight_saving_change_start_once() {
    // Down in Berlin from Saturday to Monday over the spring change: one run, for Monday 02:30 CEST.
    let mut s = scheduled(
        "30 2 * * *",
        Some("Europe/Berlin"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-03-28T01:30:00Z");
    let d = decide(&s, &[], at("2026-03-30T08:00:00Z"));
    assert_eq!(d.start_run, run_at("2026-03-30T00:30:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-31T00:30:00Z"))));
}

#[test]
fn every_counts_real_time_across_daylight_saving_changes() {
    let mut s = scheduled(
        "@every 1h",
        Some("America/New_York"),
        ConcurrencyPolicy::Allow,
    );
    last_ran(&mut s, "2026-03-08T06:30:00Z"); // 01:30 EST, half an hour before the change
    let d = decide(&s, &[], at("2026-03-08T07:30:00Z"));
    assert_eq!(d.start_run, run_at("2026-03-08T07:30:00Z")); // 03:30 EDT, one hour later
}

#[test]
fn every_keeps_its_cadence_and_a_steady_status_while_waiting() {
    // Created at 00:00:00; reconciled at any moment before 00:00:10, the next run is 00:00:10.
    let s = scheduled("@every 10s", None, ConcurrencyPolicy::Allow);
    let early = decide(&s, &[], at("2026-03-01T00:00:01Z"));
    let later = decide(&s, &[], at("2026-03-01T00:00:07Z"));
    assert_eq!(early.status, later.status);
    assert_eq!(
        early.status.next_run,
        Some(Time(at("2026-03-01T00:00:10Z")))
    );
    assert_eq!(
        later.requeue_after,
        Some(Duration::from_secs(3) + Duration::from_millis(10))
    );
    // Late by 25 s: the run for 00:00:30, and the next at 00:00:40, on the same grid.
    let d = decide(&s, &[], at("2026-03-01T00:00:35Z"));
    assert_eq!(d.start_run, run_at("2026-03-01T00:00:30Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-01T00:00:40Z"))));
}

#[test]
fn long_outages_start_one_run_for_the_latest_time() {
    let mut s = scheduled("* * * * *", Some("Europe/Berlin"), ConcurrencyPolicy::Allow);
    last_ran(&mut s, "2026-03-01T00:00:00Z");
    // 90 days of a job every minute: far more than are walked one by one.
    let d = decide(&s, &[], at("2026-05-30T10:20:30Z"));
    assert_eq!(d.start_run, run_at("2026-05-30T10:20:00Z"));
    assert_eq!(d.status.next_run, Some(Time(at("2026-05-30T10:21:00Z"))));
    let mut s = scheduled("@every 1s", None, ConcurrencyPolicy::Allow);
    last_ran(&mut s, "2026-03-01T00:00:00Z");
    let d = decide(&s, &[], at("2027-03-01T00:00:00.5Z"));
    assert_eq!(d.start_run, run_at("2027-03-01T00:00:00Z"));
}

#[test]
fn a_run_created_but_not_recorded_is_not_started_again() {
    // The operator created nightly-<00:00:10> and stopped before writing the status.
    let s = scheduled("@every 10s", None, ConcurrencyPolicy::Replace);
    let created = run_at("2026-03-01T00:00:10Z").unwrap();
    let runs = [run(
        &created,
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Running,
    )];
    let d = decide(&s, &runs, at("2026-03-01T00:00:12Z"));
    assert_eq!(d.start_run, None);
    assert!(d.delete_runs.is_empty(), "{:?}", d.delete_runs);
    assert_eq!(d.status.last_run, Some(Time(at("2026-03-01T00:00:10Z"))));
    assert_eq!(d.status.last_run_name, Some(created));
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-01T00:00:20Z"))));
}

#[test]
fn forbid_starts_the_pending_time_once_the_run_ends() {
    let mut s = scheduled("@every 10s", None, ConcurrencyPolicy::Forbid);
    last_ran(&mut s, "2026-03-01T00:00:10Z");
    let name = run_at("2026-03-01T00:00:10Z").unwrap();
    let running = [run(
        &name,
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Running,
    )];
    let d = decide(&s, &running, at("2026-03-01T00:00:35Z"));
    assert_eq!(d.start_run, None);
    assert_eq!(d.status.next_run, Some(Time(at("2026-03-01T00:00:30Z"))));
    assert_eq!(d.status.last_run, Some(Time(at("2026-03-01T00:00:10Z"))));
    let failed = [run(
        &name,
        "2026-03-01T00:00:10Z",
        ApplicationStateType::Failed,
    )];
    let d = decide(&s, &failed, at("2026-03-01T00:00:36Z"));
    assert_eq!(d.start_run, run_at("2026-03-01T00:00:30Z"));
    assert_eq!(d.status.past_failed_run_names, [name]);
}

#[test]
fn bad_input_fails_validation_and_never_panics() {
    let mut s = scheduled("@every 1s", Some("Mars/Olympus"), ConcurrencyPolicy::Allow);
    let d = decide(&s, &[], at("2026-03-02T00:00:00Z"));
    assert_eq!(d.status.schedule_state, ScheduleState::FailedValidation);
    assert!(d.status.reason.unwrap().contains("spec.timeZone"));
    s.spec.time_zone = None;
    s.spec.successful_run_history_limit = Some(-1);
    let d = decide(&s, &[], at("2026-03-02T00:00:00Z"));
    assert_eq!(d.status.schedule_state, ScheduleState::FailedValidation);
    // The longest interval Go reads, a last run at the end of time, no creation time, odd names.
    for schedule in ["@every 2562047h", "0 0 29 2 *", "@yearly"] {
        let mut s = scheduled(schedule, Some("UTC"), ConcurrencyPolicy::Replace);
        s.metadata.creation_timestamp = None;
        s.status = Some(ScheduledSparkApplicationStatus {
            last_run: Some(Time(Timestamp::MAX)),
            ..Default::default()
        });
        let runs = [
            run(
                "nightly-",
                "2026-03-01T00:00:00Z",
                ApplicationStateType::Running,
            ),
            run(
                "nightly-99999999999999999999",
                "2026-03-01T00:00:00Z",
                ApplicationStateType::New,
            ),
            run(
                "other-1",
                "2026-03-01T00:00:00Z",
                ApplicationStateType::Completed,
            ),
        ];
        let d = decide(&s, &runs, at("2026-03-02T00:00:00Z"));
        assert_eq!(d.start_run, None, "{schedule}");
        s.status = None;
        let _ = decide(&s, &runs, Timestamp::MAX);
        let _ = decide(&s, &runs, Timestamp::MIN);
    }
}

#[test]
fn history_limits_of_zero_keep_no_finished_runs() {
    let mut s = scheduled("@daily", None, ConcurrencyPolicy::Allow);
    s.spec.successful_run_history_limit = Some(0);
    s.spec.failed_run_history_limit = Some(0);
    let runs = [
        run(
            "r1",
            "2026-03-01T00:00:00Z",
            ApplicationStateType::Completed,
        ),
        run("r2", "2026-03-02T00:00:00Z", ApplicationStateType::Failed),
        run("r3", "2026-03-03T00:00:00Z", ApplicationStateType::Running),
    ];
    let d = decide(&s, &runs, at("2026-03-03T12:00:00Z"));
    assert_eq!(d.delete_runs, ["r1", "r2"]);
    assert!(d.status.past_successful_run_names.is_empty());
    assert!(d.status.past_failed_run_names.is_empty());
}
