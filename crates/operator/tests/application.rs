//! The SparkApplication lifecycle end to end: the operator, the local cluster over HTTPS and its
//! simulated nodes, whose Spark drivers create executors as Spark's would. Every scenario runs in
//! both submission modes (`native::…` and `spark_submit::…`).

use std::collections::BTreeSet;

use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use spark_operator_api::ApplicationStateType as State;
use testkit::fixtures::spark_pi;
use testkit::{Env, Mode, eventually, in_both_modes, slow_watch};

in_both_modes!(
    spark_pi_runs_to_completed_with_its_executors,
    failed_driver_is_retried_on_failure_until_the_retries_run_out,
    never_policy_fails_at_once,
    an_invalid_application_fails_with_the_field_named,
    deleting_an_application_removes_what_it_created,
    a_finished_application_is_deleted_after_its_time_to_live,
    suspend_stops_the_run_and_resume_starts_a_new_one,
    a_spec_change_while_running_submits_the_new_spec,
    an_operator_restart_submits_no_application_twice,
    many_applications_at_once_all_complete,
    a_driver_pod_that_disappears_fails_the_application,
);

async fn spark_pi_runs_to_completed_with_its_executors(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    env.create(&spark_pi("pi", r#""localcluster/run-seconds": "1""#, ""))
        .await;
    let app = env.wait_for("pi", State::Completed, 30).await;
    let status = app.status.unwrap();
    assert_eq!(status.execution_attempts, Some(1));
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.driver_info.pod_name.as_deref(), Some("pi-driver"));
    assert_eq!(
        status.driver_info.web_ui_service_name.as_deref(),
        Some("pi-ui-svc")
    );
    assert_eq!(status.driver_info.web_ui_port, Some(4040));
    assert!(
        status
            .driver_info
            .web_ui_address
            .as_deref()
            .is_some_and(|a| a.ends_with(":4040")),
        "{:?}",
        status.driver_info
    );
    assert!(
        status
            .spark_application_id
            .as_deref()
            .is_some_and(|id| id.starts_with("spark-"))
    );
    assert!(status.termination_time.is_some() && status.last_submission_attempt_time.is_some());
    assert_eq!(
        status.executor_state.len(),
        2,
        "{:?}",
        status.executor_state
    );
    assert!(
        status
            .executor_state
            .values()
            .all(|s| *s == spark_operator_api::ExecutorState::Completed)
    );

    let expected = [
        "SparkApplicationSubmitted",
        "SparkDriverRunning",
        "SparkApplicationCompleted",
    ];
    let reasons = env.event_reasons_including("pi", &expected).await;
    for expected in expected {
        assert!(
            reasons.iter().any(|r| r == expected),
            "no {expected} event in {reasons:?}"
        );
    }
    // The attempt's objects, which deleting the application removes. Native submission labels
    // them all and makes the application their owner; spark-submit labels only the driver and
    // makes the driver the owner of the ConfigMaps and headless Service it creates (Spark's own
    // design), so they are found by owner: the application, or its driver.
    let driver = env.pods().get("pi-driver").await.unwrap();
    assert_eq!(
        driver.labels().get("sparkoperator.k8s.io/submission-id"),
        status.submission_id.as_ref(),
        "the attempt's id is on the driver, so that a restarted operator adopts it"
    );
    // The cluster records who wrote what, and the operator writes under its own name, as
    // Kubeflow's does: the application's status and, submitting natively, the driver.
    let app_writers = writers(app.metadata.managed_fields.as_deref().unwrap_or_default());
    let driver_writers = writers(driver.managed_fields());
    let by = |manager: &str, subresource: Option<&str>| {
        (Some(manager.to_string()), subresource.map(str::to_string))
    };
    assert!(
        app_writers.contains(&by("spark-operator", Some("status"))),
        "{app_writers:?}"
    );
    assert!(
        driver_writers.contains(&by("kubelet", Some("status"))),
        "{driver_writers:?}"
    );
    if mode == Mode::Native {
        assert!(
            driver_writers.contains(&by("spark-operator", None)),
            "{driver_writers:?}"
        );
    }
    let uid = app.metadata.uid.clone().unwrap();
    assert!(
        driver.owner_references().iter().any(|o| o.uid == uid),
        "the driver is not owned by the application: {:?}",
        driver.owner_references()
    );
    let owned = env.owned_by("pi").await;
    let count = |prefix: &str, suffix: &str| {
        owned
            .iter()
            .filter(|o| o.starts_with(prefix) && o.ends_with(suffix))
            .count()
    };
    assert_eq!(
        [
            count("Pod/", "-exec-1") + count("Pod/", "-exec-2"),
            count("ConfigMap/spark-drv-", "-conf-map"),
            count("ConfigMap/", "-driver-podspec-conf-map"),
        ],
        [2, 1, 1],
        "two executors, the driver's properties, the executors' pod template: {owned:?}"
    );
    // An ended application's Services are gone, so that they no longer give every new pod of
    // the namespace their environment variables; its status keeps where the UI was.
    // spark-submit's own headless driver Service is owned by the driver and labelled by Spark
    // only; a headless Service gives pods no environment variables.
    let headless = usize::from(mode == Mode::SparkSubmit);
    assert!(owned.contains("Pod/pi-driver"), "{owned:?}");
    assert!(!owned.contains("Service/pi-ui-svc"), "{owned:?}");
    assert_eq!(count("Service/", "-driver-svc"), headless, "{owned:?}");
    assert_eq!(owned.len(), 5 + headless, "nothing else: {owned:?}");
}

async fn failed_driver_is_retried_on_failure_until_the_retries_run_out(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let policy = "  restartPolicy:\n    type: OnFailure\n    onFailureRetries: 2\n    onFailureRetryInterval: 1\n";
    let annotations = r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "1""#;
    env.create(&spark_pi("flaky", annotations, policy)).await;
    let app = env.wait_for("flaky", State::Failed, 60).await;
    let status = app.status.unwrap();
    assert_eq!(
        status.execution_attempts,
        Some(3),
        "one run and two retries"
    );
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(message.contains("ExitCode: 1"), "{message}");
    // Repeated events are recorded once, as a series.
    let reasons = env
        .event_reasons_including("flaky", &["SparkApplicationPendingRerun"])
        .await;
    assert!(
        reasons.iter().any(|r| r == "SparkApplicationPendingRerun"),
        "{reasons:?}"
    );
    // One driver at a time: each retry replaced the last.
    assert_eq!(env.pod_names("flaky", "driver").await.len(), 1);
}

async fn never_policy_fails_at_once(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let annotations = r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "3""#;
    env.create(&spark_pi("once", annotations, "")).await;
    let status = env
        .wait_for("once", State::Failed, 30)
        .await
        .status
        .unwrap();
    assert_eq!(status.execution_attempts, Some(1));
    assert_eq!(status.submission_attempts, Some(1));
}

async fn an_invalid_application_fails_with_the_field_named(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    // No executors is what spark-submit refuses without dynamic allocation; native submission
    // refuses it too, so that an application runs in both modes or in neither.
    let yaml = spark_pi(
        "bad",
        "",
        "  restartPolicy:\n    type: OnFailure\n    onFailureRetries: -1\n",
    )
    .replace("instances: 2", "instances: 0");
    env.create(&yaml).await;
    let status = env.wait_for("bad", State::Failed, 30).await.status.unwrap();
    let message = status.application_state.error_message.unwrap();
    assert!(message.contains("onFailureRetries"), "{message}");
    assert!(
        message.contains("spec.executor.instances") && message.contains("1 or more"),
        "{message}"
    );
    assert!(
        env.pod_names("bad", "driver").await.is_empty(),
        "nothing is submitted"
    );
}

async fn deleting_an_application_removes_what_it_created(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    env.create(&spark_pi(
        "gone",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("gone", State::Running, 30).await;
    // What the application owns is read once both executors are there: read before, it can
    // miss the second executor created in between.
    eventually(mode.patience(10), || async {
        (env.pod_names("gone", "executor").await.len() == 2).then_some(())
    })
    .await;
    let owned = env.owned_by("gone").await;
    assert!(
        owned.contains("Pod/gone-driver") && owned.len() == 7,
        "the driver, two executors, two Services and two ConfigMaps: {owned:?}"
    );
    env.apps()
        .delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    eventually(mode.patience(20), || async {
        env.object_names().await.is_disjoint(&owned).then_some(())
    })
    .await;
}

async fn a_finished_application_is_deleted_after_its_time_to_live(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    // The time to live is what the test polls COMPLETED within: long enough that a loaded
    // machine (the suite runs its scenarios in parallel) cannot starve the poll past it.
    env.create(&spark_pi(
        "short",
        r#""localcluster/run-seconds": "0.2""#,
        "  timeToLiveSeconds: 5\n",
    ))
    .await;
    env.wait_for("short", State::Completed, 30).await;
    eventually(mode.patience(20), || async {
        env.app("short").await.is_none().then_some(())
    })
    .await;
}

async fn suspend_stops_the_run_and_resume_starts_a_new_one(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    env.create(&spark_pi(
        "pausable",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("pausable", State::Running, 30).await;
    let suspend = serde_json::json!({"spec": {"suspend": true}});
    env.apps()
        .patch("pausable", &PatchParams::default(), &Patch::Merge(&suspend))
        .await
        .unwrap();
    env.wait_for("pausable", State::Suspended, 30).await;
    assert!(
        env.pod_names("pausable", "driver").await.is_empty(),
        "the driver is stopped"
    );

    let resume = serde_json::json!({"spec": {"suspend": false}});
    env.apps()
        .patch("pausable", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .unwrap();
    let app = env.wait_for("pausable", State::Running, 30).await;
    assert_eq!(app.status.unwrap().submission_attempts, Some(2));
}

async fn a_spec_change_while_running_submits_the_new_spec(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    env.create(&spark_pi(
        "changing",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    let first = env.wait_for("changing", State::Running, 30).await;
    let first_id = first.status.unwrap().submission_id;
    let change = serde_json::json!({"spec": {"arguments": ["1000"]}});
    env.apps()
        .patch("changing", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    let app = eventually(mode.patience(30), || async {
        let app = env.app("changing").await?;
        let status = app.status.clone()?;
        (status.submission_id != first_id && status.application_state.state == State::Running)
            .then_some(app)
    })
    .await;
    let driver = env.pods().get("changing-driver").await.unwrap();
    let args = driver.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert_eq!(args.last().map(String::as_str), Some("1000"), "{args:?}");
    assert_eq!(
        app.status.unwrap().observed_generation,
        app.metadata.generation
    );
}

/// How many applications the scale scenarios create in `mode`. Native submission takes
/// microseconds of operator CPU per application; spark-submit starts a JVM for each (3 to 6 CPU
/// seconds, four at a time), so on CI's two cores it runs a few rounds of its concurrency rather
/// than hundreds, which would add many minutes to CI without exercising anything new.
fn scale(mode: Mode, native: usize, spark_submit: usize) -> usize {
    match mode {
        Mode::Native => native,
        Mode::SparkSubmit => spark_submit,
    }
}

async fn an_operator_restart_submits_no_application_twice(mode: Mode) {
    let Some(mut env) = Env::start_in(mode).await else {
        return;
    };
    let count = scale(mode, 50, 10);
    // The restart comes while earlier applications are still being submitted.
    let restart_after = count * 2 / 5;
    let names: Vec<String> = (0..count).map(|i| format!("batch-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        env.create(&spark_pi(name, r#""localcluster/run-seconds": "0.5""#, ""))
            .await;
        if i + 1 == restart_after {
            env.stop_operator().await;
            env.start_operator();
        }
    }
    for name in &names {
        let status = env
            .wait_for(name, State::Completed, 90)
            .await
            .status
            .unwrap();
        assert_eq!(
            status.submission_attempts,
            Some(1),
            "{name} submitted more than once"
        );
        assert_eq!(status.execution_attempts, Some(1), "{name}");
    }
    let submitted: BTreeSet<usize> = futures::future::join_all(names.iter().map(|name| {
        let env = &env;
        async move {
            env.events_with_reason(name, "SparkApplicationSubmitted")
                .await
        }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(
        submitted,
        BTreeSet::from([1]),
        "each application has exactly one submission event"
    );
}

async fn many_applications_at_once_all_complete(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let count = scale(mode, 200, 12);
    let names: Vec<String> = (0..count).map(|i| format!("many-{i:03}")).collect();
    futures::future::join_all(names.iter().map(|name| {
        let env = &env;
        async move {
            env.create(&spark_pi(name, r#""localcluster/run-seconds": "0.5""#, ""))
                .await
        }
    }))
    .await;
    let apps = eventually(mode.patience(180), || async {
        let apps = env.apps().list(&ListParams::default()).await.ok()?.items;
        let completed = apps
            .iter()
            .filter(|a| {
                a.status
                    .as_ref()
                    .is_some_and(|s| s.application_state.state == State::Completed)
            })
            .count();
        (completed == names.len()).then_some(apps)
    })
    .await;
    for app in apps {
        let status = app.status.unwrap();
        assert_eq!(
            (status.submission_attempts, status.execution_attempts),
            (Some(1), Some(1)),
            "{}",
            app.metadata.name.unwrap()
        );
        assert_eq!(status.executor_state.len(), 2);
    }
}

async fn a_driver_pod_that_disappears_fails_the_application(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    env.create(&spark_pi(
        "vanishing",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("vanishing", State::Running, 30).await;
    env.pods()
        .delete("vanishing-driver", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let status = env
        .wait_for("vanishing", State::Failed, 40)
        .await
        .status
        .unwrap();
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(message.contains("not found"), "{message}");
    assert_eq!(status.execution_attempts, Some(1));
}

/// A driver pod the operator's watch has not delivered yet is not a missing driver: the operator
/// asks the API server before it fails the application, and waits for its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_the_watch_has_not_delivered_yet_is_waited_for() {
    let mut env = Env::without_operator().await;
    let mut config = env.config();
    let grace = std::time::Duration::from_secs(2);
    config.lifecycle.driver_pod_creation_grace_period = grace;
    // Pod events reach the operator well after the grace period.
    let slow = slow_watch::SlowWatches {
        plural: "pods",
        delay: grace * 4,
        lists_too: false,
    };
    let client = kube::client::ClientBuilder::try_from(env.operator_client_config())
        .expect("operator's client")
        .with_layer(&slow)
        .build();
    env.start_operator_on(client, config);
    env.create(&spark_pi("late", r#""localcluster/run-seconds": "1""#, ""))
        .await;
    let app = env.wait_for("late", State::Completed, 40).await;
    assert_eq!(app.status.unwrap().submission_attempts, Some(1));
    let reasons = env
        .event_reasons_including("late", &["SparkApplicationCompleted"])
        .await;
    assert!(
        !reasons.iter().any(|r| r == "SparkDriverNotFound"),
        "{reasons:?}"
    );
}

/// An operator stopped before its pod cache is filled stops at once: the reconciles waiting for
/// it (which the stopped controller would never fill) end, and the next operator submits the
/// application once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stopped_before_its_pods_are_listed_stops() {
    // No reconcile got past the wait for the pod cache: the application is as it was created.
    stops_with_the_first_listing_held_back("pods", true).await;
}

/// The same with the ScheduledSparkApplication controller not yet listed: its runner, held until
/// then, has nothing to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stopped_before_its_schedules_are_listed_stops() {
    stops_with_the_first_listing_held_back("scheduledsparkapplications", false).await;
}

async fn stops_with_the_first_listing_held_back(
    plural: &'static str,
    untouched_by_the_stopped: bool,
) {
    let mut env = Env::without_operator().await;
    // The operator's first listing is held back far longer than its stop may take.
    let slow = slow_watch::SlowWatches {
        plural,
        delay: std::time::Duration::from_secs(120),
        lists_too: true,
    };
    let client = kube::client::ClientBuilder::try_from(env.operator_client_config())
        .expect("operator's client")
        .with_layer(&slow)
        .build();
    env.start_operator_on(client, env.config());
    env.create(&spark_pi(
        "early",
        r#""localcluster/run-seconds": "0.2""#,
        "",
    ))
    .await;
    // Time for the application's reconcile to begin.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    env.stop_operator().await;
    if untouched_by_the_stopped {
        assert_eq!(env.app("early").await.and_then(|app| app.status), None);
    }

    env.start_operator();
    let app = env.wait_for("early", State::Completed, 30).await;
    assert_eq!(app.status.unwrap().submission_attempts, Some(1));
}

/// Who wrote an object, as its `managedFields` say: (manager, subresource) of each entry.
fn writers(
    entries: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry],
) -> Vec<(Option<String>, Option<String>)> {
    entries
        .iter()
        .map(|entry| (entry.manager.clone(), entry.subresource.clone()))
        .collect()
}
