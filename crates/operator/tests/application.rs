//! The SparkApplication lifecycle end to end: the operator, the local cluster over HTTPS and its
//! simulated nodes, whose Spark drivers create executors as Spark's would.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Env, eventually, spark_pi};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use spark_operator_api::ApplicationStateType as State;

#[tokio::test]
async fn spark_pi_runs_to_completed_with_its_executors() {
    let env = Env::start().await;
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

    let reasons = env.event_reasons("pi").await;
    for expected in [
        "SparkApplicationSubmitted",
        "SparkDriverRunning",
        "SparkApplicationCompleted",
    ] {
        assert!(
            reasons.iter().any(|r| r == expected),
            "no {expected} event in {reasons:?}"
        );
    }
    // The attempt's objects, each owned by the application so that deleting it removes them.
    let uid = app.metadata.uid.clone().unwrap();
    let selector = ListParams::default().labels("sparkoperator.k8s.io/app-name=pi");
    let config_maps = Api::<ConfigMap>::namespaced(env.client.clone(), "default")
        .list(&selector)
        .await
        .unwrap();
    let services = Api::<Service>::namespaced(env.client.clone(), "default")
        .list(&selector)
        .await
        .unwrap();
    assert!(!config_maps.items.is_empty() && !services.items.is_empty());
    let driver = env.pods().get("pi-driver").await.unwrap();
    for owners in config_maps
        .items
        .iter()
        .map(|o| o.owner_references())
        .chain(services.items.iter().map(|o| o.owner_references()))
        .chain([driver.owner_references()])
    {
        assert!(
            owners.iter().any(|o| o.uid == uid),
            "not owned by the application: {owners:?}"
        );
    }
}

#[tokio::test]
async fn failed_driver_is_retried_on_failure_until_the_retries_run_out() {
    let env = Env::start().await;
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
    let reasons = env.event_reasons("flaky").await;
    assert!(
        reasons.iter().any(|r| r == "SparkApplicationPendingRerun"),
        "{reasons:?}"
    );
    // One driver at a time: each retry replaced the last.
    assert_eq!(env.pod_names("flaky", "driver").await.len(), 1);
}

#[tokio::test]
async fn never_policy_fails_at_once() {
    let env = Env::start().await;
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

#[tokio::test]
async fn an_invalid_application_fails_with_the_field_named() {
    let env = Env::start().await;
    let yaml = spark_pi(
        "bad",
        "",
        "  restartPolicy:\n    type: OnFailure\n    onFailureRetries: -1\n",
    );
    env.create(&yaml).await;
    let status = env.wait_for("bad", State::Failed, 30).await.status.unwrap();
    let message = status.application_state.error_message.unwrap();
    assert!(message.contains("onFailureRetries"), "{message}");
    assert!(
        env.pod_names("bad", "driver").await.is_empty(),
        "nothing is submitted"
    );
}

#[tokio::test]
async fn deleting_an_application_removes_what_it_created() {
    let env = Env::start().await;
    env.create(&spark_pi(
        "gone",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("gone", State::Running, 30).await;
    eventually(10, || async {
        (env.pod_names("gone", "executor").await.len() == 2).then_some(())
    })
    .await;
    env.apps()
        .delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    eventually(20, || async {
        let pods = env
            .pods()
            .list(&ListParams::default().labels("sparkoperator.k8s.io/app-name=gone"))
            .await
            .ok()?;
        let services = Api::<Service>::namespaced(env.client.clone(), "default")
            .list(&ListParams::default().labels("sparkoperator.k8s.io/app-name=gone"))
            .await
            .ok()?;
        (pods.items.is_empty() && services.items.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_finished_application_is_deleted_after_its_time_to_live() {
    let env = Env::start().await;
    env.create(&spark_pi(
        "short",
        r#""localcluster/run-seconds": "0.2""#,
        "  timeToLiveSeconds: 1\n",
    ))
    .await;
    env.wait_for("short", State::Completed, 30).await;
    eventually(20, || async {
        env.app("short").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn suspend_stops_the_run_and_resume_starts_a_new_one() {
    let env = Env::start().await;
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

#[tokio::test]
async fn a_spec_change_while_running_submits_the_new_spec() {
    let env = Env::start().await;
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
    let app = eventually(30, || async {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restart_submits_no_application_twice() {
    let mut env = Env::start().await;
    let names: Vec<String> = (0..50).map(|i| format!("batch-{i:02}")).collect();
    let creating = Arc::new(env.apps());
    for name in &names {
        env.create(&spark_pi(name, r#""localcluster/run-seconds": "0.5""#, ""))
            .await;
        if name == "batch-20" {
            env.stop_operator().await;
            env.start_operator();
        }
    }
    drop(creating);
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
            env.event_reasons(name)
                .await
                .iter()
                .filter(|r| *r == "SparkApplicationSubmitted")
                .count()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_applications_at_once_all_complete() {
    let env = Env::start().await;
    let names: Vec<String> = (0..200).map(|i| format!("many-{i:03}")).collect();
    futures::future::join_all(names.iter().map(|name| {
        let env = &env;
        async move {
            env.create(&spark_pi(name, r#""localcluster/run-seconds": "0.5""#, ""))
                .await
        }
    }))
    .await;
    let apps = eventually(180, || async {
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

#[tokio::test]
async fn a_driver_pod_that_disappears_fails_the_application() {
    let env = Env::start().await;
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
