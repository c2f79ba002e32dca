//! ScheduledSparkApplication end to end: schedules of a few seconds on the local cluster, whose
//! runs are SparkApplications carried out by the operator and the simulated nodes.
//!
//! A `Runs` recorder watches the runs of one schedule from before it exists, so assertions cover
//! every run ever created and every state it went through, not just what is left at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use spark_operator_api::{
    ApplicationStateType as State, ScheduleState, ScheduledSparkApplication,
    ScheduledSparkApplicationStatus, SparkApplication,
};
use testkit::fixtures::{SparkApplicationFixture, scheduled, spark_pi};
use testkit::{Env, eventually};
use tokio::task::JoinHandle;

const LABEL: &str = "sparkoperator.k8s.io/scheduled-app-name";
/// The schedule of every test: a run every two seconds.
const EVERY: i64 = 2;

/// A ScheduledSparkApplication running spark-pi (with one executor) every two seconds; `spec`
/// adds fields (policy, limits), `annotations` go on the driver (how long the simulated run
/// takes, its exit code).
fn scheduled_pi(name: &str, spec: &str, annotations: &str) -> String {
    let run: SparkApplication =
        serde_yaml::from_str(&spark_pi(name, annotations, "")).expect("Spark Pi parses");
    let run = run.executors(1).to_yaml();
    let spec = format!("  timeZone: UTC\n{spec}");
    scheduled(name, &format!("@every {EVERY}s"), &spec, &run)
}

fn schedules(env: &Env) -> Api<ScheduledSparkApplication> {
    Api::namespaced(env.client.clone(), "default")
}

async fn create_scheduled(env: &Env, yaml: &str) -> ScheduledSparkApplication {
    let scheduled: ScheduledSparkApplication = serde_yaml::from_str(yaml).expect("YAML parses");
    schedules(env)
        .create(&PostParams::default(), &scheduled)
        .await
        .expect("scheduled application created")
}

async fn status_of(env: &Env, name: &str) -> ScheduledSparkApplicationStatus {
    let scheduled = schedules(env).get(name).await.expect("get scheduled");
    scheduled.status.unwrap_or_default()
}

async fn patch_spec(env: &Env, name: &str, spec: serde_json::Value) {
    let patch = serde_json::json!({ "spec": spec });
    schedules(env)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch scheduled");
}

/// The runs of `scheduled` that exist now.
async fn live_runs(env: &Env, scheduled: &str) -> Vec<SparkApplication> {
    let selector = format!("{LABEL}={scheduled}");
    env.apps()
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("list runs")
        .items
}

fn state_of(app: &SparkApplication) -> State {
    app.status
        .as_ref()
        .map(|s| s.application_state.state)
        .unwrap_or_default()
}

/// The scheduled time (unix seconds) a run is named after: `<scheduled>-<seconds>`.
fn time_of(scheduled: &str, run: &str) -> i64 {
    run.strip_prefix(&format!("{scheduled}-"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{run} is not named <{scheduled}>-<unix seconds>"))
}

/// One change to a run, as the watch saw it.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    uid: String,
    state: State,
    deleted: bool,
}

/// Records every change to the runs of one schedule.
struct Runs {
    scheduled: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Runs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Runs {
    /// Starts watching before the schedule is created; returns once the watch is established.
    async fn record(env: &Env, scheduled: &str) -> Runs {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        let config = watcher::Config::default().labels(&format!("{LABEL}={scheduled}"));
        let mut events = watcher(env.apps(), config).boxed();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready);
            while let Some(event) = events.next().await {
                let (app, deleted) = match event {
                    Ok(watcher::Event::Apply(app) | watcher::Event::InitApply(app)) => (app, false),
                    Ok(watcher::Event::Delete(app)) => (app, true),
                    Ok(watcher::Event::InitDone) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                log.lock().unwrap().push(Seen {
                    name: app.name_any(),
                    uid: app.uid().unwrap_or_default(),
                    state: state_of(&app),
                    deleted,
                });
            }
        });
        tokio::time::timeout(Duration::from_secs(10), is_ready)
            .await
            .expect("watch established")
            .expect("watch task running");
        Runs {
            scheduled: scheduled.into(),
            seen,
            task,
        }
    }

    fn events(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every run ever created, by scheduled time.
    fn times(&self) -> BTreeMap<i64, String> {
        self.events()
            .into_iter()
            .map(|s| (time_of(&self.scheduled, &s.name), s.name))
            .collect()
    }

    /// Waits until at least `count` runs have been created; returns their names by time.
    async fn wait_for_created(&self, count: usize, seconds: u64) -> BTreeMap<i64, String> {
        eventually(seconds, || async {
            let times = self.times();
            (times.len() >= count).then_some(times)
        })
        .await
    }

    /// Each name was created once (one uid), and each scheduled time has one run.
    fn assert_each_time_ran_once(&self) {
        let mut uids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for seen in self.events() {
            uids.entry(seen.name).or_default().insert(seen.uid);
        }
        for (name, uids) in &uids {
            assert_eq!(uids.len(), 1, "{name} was created {} times", uids.len());
        }
        let times: BTreeSet<i64> = uids.keys().map(|n| time_of(&self.scheduled, n)).collect();
        assert_eq!(times.len(), uids.len(), "two runs for one time: {uids:?}");
    }

    /// The most runs that were unfinished at the same moment.
    fn most_at_once(&self) -> usize {
        let mut states: BTreeMap<String, State> = BTreeMap::new();
        let mut most = 0;
        for seen in self.events() {
            if seen.deleted {
                states.remove(&seen.name);
            } else {
                states.insert(seen.name, seen.state);
            }
            most = most.max(states.values().filter(|s| !s.is_final()).count());
        }
        most
    }

    /// The runs that were deleted, with the last state they were seen in.
    fn deleted(&self) -> BTreeMap<String, State> {
        let mut last: BTreeMap<String, State> = BTreeMap::new();
        let mut deleted = BTreeMap::new();
        for seen in self.events() {
            if seen.deleted {
                deleted.insert(
                    seen.name.clone(),
                    last.get(&seen.name).copied().unwrap_or_default(),
                );
            }
            last.insert(seen.name, seen.state);
        }
        deleted
    }
}

#[tokio::test]
async fn runs_are_named_for_their_time_owned_and_complete_with_the_status_kept() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "tick").await;
    let spec = "  concurrencyPolicy: Allow\n  successfulRunHistoryLimit: 2\n";
    let scheduled = create_scheduled(
        &env,
        &scheduled_pi("tick", spec, r#""localcluster/run-seconds": "0.2""#),
    )
    .await;
    let created = scheduled.creation_timestamp().unwrap().0.as_second();

    // Runs complete and the oldest are trimmed.
    let status = eventually(40, || async {
        let status = status_of(&env, "tick").await;
        (runs.deleted().len() >= 2 && status.past_successful_run_names.len() == 2).then_some(status)
    })
    .await;
    assert_eq!(status.schedule_state, ScheduleState::Scheduled);
    assert_eq!(status.reason, None);
    let last = status.last_run.clone().expect("lastRun").0.as_second();
    assert_eq!(status.last_run_name, Some(format!("tick-{last}")));
    assert_eq!(
        status.next_run.expect("nextRun").0.as_second(),
        last + EVERY
    );
    let past = &status.past_successful_run_names;
    assert!(
        time_of("tick", &past[0]) > time_of("tick", &past[1]),
        "newest first: {past:?}"
    );
    assert!(status.past_failed_run_names.is_empty());

    // Every run is owned by the schedule, so that deleting it deletes them.
    for app in live_runs(&env, "tick").await {
        let owner = app.owner_references().first().cloned().expect("owner");
        assert_eq!(owner.kind, "ScheduledSparkApplication");
        assert_eq!(owner.uid, scheduled.uid().unwrap());
        assert_eq!(owner.controller, Some(true));
        assert_eq!(
            app.spec.main_class.as_deref(),
            Some("org.apache.spark.examples.SparkPi")
        );
    }

    // Stopped, the history settles: the two newest runs are kept, completed, and listed.
    patch_spec(&env, "tick", serde_json::json!({ "suspend": true })).await;
    let kept = eventually(30, || async {
        let status = status_of(&env, "tick").await;
        let apps = live_runs(&env, "tick").await;
        let live: BTreeSet<String> = apps.iter().map(|a| a.name_any()).collect();
        let listed: BTreeSet<String> = status.past_successful_run_names.iter().cloned().collect();
        let settled = status.next_run.is_none()
            && apps.iter().all(|a| state_of(a) == State::Completed)
            && live == listed;
        settled.then_some(live)
    })
    .await;
    let times = runs.times();
    assert!(times.len() >= 4, "{times:?}");
    for time in times.keys() {
        assert_eq!(
            (time - created) % EVERY,
            0,
            "{time} is not on the schedule from {created}"
        );
        assert!(*time > created);
    }
    let newest: BTreeSet<String> = times.values().rev().take(2).cloned().collect();
    assert_eq!(kept, newest);
    // Every other run completed and was then deleted.
    let deleted = runs.deleted();
    for name in times.values().filter(|n| !kept.contains(*n)) {
        assert_eq!(
            deleted.get(name),
            Some(&State::Completed),
            "{name}: {deleted:?}"
        );
    }
    runs.assert_each_time_ran_once();
}

#[tokio::test]
async fn failed_runs_are_kept_up_to_their_own_limit() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "flaky").await;
    let spec = "  successfulRunHistoryLimit: 3\n  failedRunHistoryLimit: 1\n";
    let annotations = r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "1""#;
    create_scheduled(&env, &scheduled_pi("flaky", spec, annotations)).await;
    let status = eventually(40, || async {
        let status = status_of(&env, "flaky").await;
        let deleted = runs.deleted();
        (deleted.len() >= 2 && status.past_failed_run_names.len() == 1).then_some(status)
    })
    .await;
    assert!(status.past_successful_run_names.is_empty());
    assert!(
        runs.deleted().values().all(|s| *s == State::Failed),
        "{:?}",
        runs.deleted()
    );
    // The kept run failed (unless a newer failure has replaced it since).
    let kept = &status.past_failed_run_names[0];
    let state = env.app(kept).await.map(|a| state_of(&a));
    let trimmed = runs.deleted().get(kept).copied();
    assert!(
        state == Some(State::Failed) || trimmed == Some(State::Failed),
        "{kept}: {state:?} {trimmed:?}"
    );
    eventually(20, || async {
        let apps = live_runs(&env, "flaky").await;
        (apps.iter().filter(|a| state_of(a) == State::Failed).count() <= 1).then_some(())
    })
    .await;
    runs.assert_each_time_ran_once();
}

#[tokio::test]
async fn allow_starts_runs_beside_running_ones() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "overlap").await;
    let spec = "  concurrencyPolicy: Allow\n";
    create_scheduled(
        &env,
        &scheduled_pi("overlap", spec, r#""localcluster/run-seconds": "forever""#),
    )
    .await;
    eventually(40, || async {
        let apps = live_runs(&env, "overlap").await;
        let running = apps
            .iter()
            .filter(|a| state_of(a) == State::Running)
            .count();
        (running >= 2).then_some(())
    })
    .await;
    assert!(runs.most_at_once() >= 2);
    assert!(runs.deleted().is_empty(), "nothing is replaced or trimmed");
    runs.assert_each_time_ran_once();
}

#[tokio::test]
async fn forbid_starts_no_run_while_one_is_running() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "serial").await;
    let spec = "  concurrencyPolicy: Forbid\n  successfulRunHistoryLimit: 5\n";
    // Each run takes longer than the interval.
    create_scheduled(
        &env,
        &scheduled_pi("serial", spec, r#""localcluster/run-seconds": "3""#),
    )
    .await;
    let times = runs.wait_for_created(2, 40).await;
    let second = times.values().nth(1).unwrap().clone();
    env.wait_for(&second, State::Completed, 30).await;
    let first = times.values().next().unwrap();
    assert_eq!(state_of(&env.app(first).await.unwrap()), State::Completed);
    assert_eq!(runs.most_at_once(), 1, "{:#?}", runs.events());
    assert!(runs.deleted().is_empty());
    runs.assert_each_time_ran_once();
}

#[tokio::test]
async fn replace_deletes_the_running_run_and_starts_the_next() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "latest").await;
    let spec = "  concurrencyPolicy: Replace\n";
    create_scheduled(
        &env,
        &scheduled_pi("latest", spec, r#""localcluster/run-seconds": "forever""#),
    )
    .await;
    let times = runs.wait_for_created(3, 40).await;
    let newest = times.values().last().unwrap().clone();
    // Every earlier run was deleted unfinished; only the newest is left.
    eventually(20, || async {
        let deleted = runs.deleted();
        let replaced = times
            .values()
            .filter(|n| **n != newest)
            .all(|n| deleted.contains_key(n));
        replaced.then_some(())
    })
    .await;
    assert!(
        runs.deleted().values().all(|s| !s.is_final()),
        "{:?}",
        runs.deleted()
    );
    assert_eq!(runs.most_at_once(), 1, "{:#?}", runs.events());
    runs.assert_each_time_ran_once();
    let status = status_of(&env, "latest").await;
    assert!(status.past_successful_run_names.is_empty() && status.past_failed_run_names.is_empty());
}

#[tokio::test]
async fn a_bad_schedule_fails_validation_with_the_reason_until_fixed() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "typo").await;
    let yaml = scheduled_pi("typo", "", "").replace("@every 2s", "every two seconds");
    create_scheduled(&env, &yaml).await;
    let reason = eventually(20, || async {
        let status = status_of(&env, "typo").await;
        (status.schedule_state == ScheduleState::FailedValidation).then_some(status.reason)
    })
    .await
    .expect("a reason");
    assert!(reason.contains("spec.schedule"), "{reason}");
    assert!(reason.contains("every two seconds"), "{reason}");
    assert!(runs.events().is_empty(), "no run of an invalid schedule");

    patch_spec(&env, "typo", serde_json::json!({ "schedule": "@every 2s" })).await;
    runs.wait_for_created(1, 30).await;
    let status = status_of(&env, "typo").await;
    assert_eq!(status.schedule_state, ScheduleState::Scheduled);
    assert_eq!(status.reason, None);
}

#[tokio::test]
async fn suspend_stops_new_runs_and_resume_starts_them_again() {
    let env = Env::start().await;
    let runs = Runs::record(&env, "pausable").await;
    let spec = "  successfulRunHistoryLimit: 10\n";
    create_scheduled(
        &env,
        &scheduled_pi("pausable", spec, r#""localcluster/run-seconds": "0.2""#),
    )
    .await;
    runs.wait_for_created(1, 30).await;

    patch_spec(&env, "pausable", serde_json::json!({ "suspend": true })).await;
    // Once the operator has seen the suspension it reports no next run ...
    eventually(20, || async {
        let status = status_of(&env, "pausable").await;
        (status.next_run.is_none() && status.schedule_state == ScheduleState::Scheduled)
            .then_some(())
    })
    .await;
    // ... and starts nothing for more than two intervals.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = runs.times();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(runs.times(), before, "a run started while suspended");

    patch_spec(&env, "pausable", serde_json::json!({ "suspend": false })).await;
    let after = runs.wait_for_created(before.len() + 2, 30).await;
    // The times missed while suspended start one run, not one each.
    let last_before = *before.keys().last().unwrap();
    let resumed: Vec<i64> = after.keys().copied().filter(|t| *t > last_before).collect();
    assert!(
        resumed[0] - last_before > EVERY,
        "{resumed:?} after {last_before}"
    );
    assert_eq!(resumed[1] - resumed[0], EVERY, "{resumed:?}");
    assert!(status_of(&env, "pausable").await.next_run.is_some());
    runs.assert_each_time_ran_once();
}

#[tokio::test]
async fn an_operator_restart_never_starts_a_run_twice() {
    let mut env = Env::start().await;
    let runs = Runs::record(&env, "steady").await;
    // Replace, the policy that deletes runs: it must not take a run it started for a new one.
    let spec = "  concurrencyPolicy: Replace\n  successfulRunHistoryLimit: 20\n";
    create_scheduled(
        &env,
        &scheduled_pi("steady", spec, r#""localcluster/run-seconds": "0.2""#),
    )
    .await;
    let first = runs.wait_for_created(2, 30).await;

    // As if the operator had stopped between creating its latest run and recording it.
    env.stop_operator().await;
    let mut stale = schedules(&env).get("steady").await.unwrap();
    let status = stale.status.get_or_insert_default();
    let latest = status.last_run.clone().expect("lastRun").0.as_second();
    assert!(latest >= *first.keys().last().unwrap());
    let previous = latest - EVERY;
    assert!(first.contains_key(&previous) || previous < *first.keys().next().unwrap());
    status.last_run = Some(Time(jiff::Timestamp::from_second(previous).unwrap()));
    status.last_run_name = Some(format!("steady-{previous}"));
    schedules(&env)
        .replace_status("steady", &PostParams::default(), &stale)
        .await
        .expect("status rewound");
    env.start_operator();
    let second = runs.wait_for_created(first.len() + 2, 30).await;
    runs.assert_each_time_ran_once();

    // Down for more than two intervals: the missed times start one run, for the latest of them.
    env.stop_operator().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stopped = *runs.times().keys().last().unwrap();
    let restarted = jiff::Timestamp::now().as_second();
    env.start_operator();
    let third = runs.wait_for_created(runs.times().len() + 2, 30).await;
    let caught_up: Vec<i64> = third.keys().copied().filter(|t| *t > stopped).collect();
    assert!(
        caught_up[0] - stopped > EVERY,
        "{caught_up:?} after {stopped}"
    );
    assert!(
        caught_up[0] > restarted - EVERY - 1,
        "{} is older than the latest time missed before {restarted}",
        caught_up[0]
    );
    assert_eq!(caught_up[1] - caught_up[0], EVERY);
    runs.assert_each_time_ran_once();
    assert!(second.len() < third.len());
    for name in live_runs(&env, "steady").await.iter().map(|a| a.name_any()) {
        assert!(third.values().any(|n| *n == name), "{name} unseen");
    }
}
