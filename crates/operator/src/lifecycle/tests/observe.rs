//! Kubernetes pods, as the lifecycle reads them.

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::*;

fn pod(name: &str, labels: serde_json::Value, status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": "default", "labels": labels },
        "status": status,
    }))
    .expect("a valid pod")
}

fn driver(name: &str, submission_id: &str, status: serde_json::Value) -> Pod {
    let labels = json!({
        "spark-role": "driver",
        "sparkoperator.k8s.io/app-name": "pi",
        "sparkoperator.k8s.io/submission-id": submission_id,
        "spark-app-selector": format!("spark-{submission_id}"),
    });
    pod(name, labels, status)
}

fn executor(name: &str, id: &str, status: serde_json::Value) -> Pod {
    let labels = json!({
        "spark-role": "executor",
        "spark-exec-id": id,
        "sparkoperator.k8s.io/app-name": "pi",
        "sparkoperator.k8s.io/submission-id": "attempt-1",
    });
    pod(name, labels, status)
}

fn running_app() -> SparkApplication {
    app_in(policy(RestartPolicyType::Never), status_in(State::Running))
}

#[test]
fn a_driver_pod_is_read_with_its_labels_phase_and_container() {
    let failed = driver(
        "pi-driver",
        "attempt-1",
        json!({
            "phase": "Failed",
            "containerStatuses": [
                { "name": "istio-proxy", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                  "state": { "terminated": { "exitCode": 0 } } },
                { "name": "spark-kubernetes-driver", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                  "state": { "terminated": { "exitCode": 101, "reason": "Error", "message": "boom" } } },
            ],
        }),
    );
    let observed = observe(&running_app(), &[failed], at(3));
    assert_eq!(observed.now, at(3));
    let DriverObservation::Pod(read) = observed.driver else {
        panic!("a driver")
    };
    assert_eq!(read.name, "pi-driver");
    assert_eq!(read.submission_id.as_deref(), Some("attempt-1"));
    assert_eq!(read.spark_app_id.as_deref(), Some("spark-attempt-1"));
    assert_eq!(read.phase, PodPhase::Failed);
    assert_eq!(
        read.terminated,
        Some(Termination {
            exit_code: 101,
            reason: Some("Error".into()),
            message: Some("boom".into()),
        })
    );
    assert_eq!(
        observed.attempts_with_resources,
        ["attempt-1".to_string()].into()
    );
}

#[test]
fn an_evicted_driver_carries_the_pods_reason_and_message() {
    let evicted = driver(
        "pi-driver",
        "attempt-1",
        json!({ "phase": "Failed", "reason": "Evicted", "message": "low on memory" }),
    );
    let DriverObservation::Pod(read) = observe(&running_app(), &[evicted], at(0)).driver else {
        panic!("a driver")
    };
    assert_eq!(read.terminated, None);
    assert_eq!(read.pod_message.as_deref(), Some("Evicted: low on memory"));
}

#[test]
fn phases_are_parsed_and_anything_else_is_unknown() {
    for (phase, parsed) in [
        (Some("Pending"), PodPhase::Pending),
        (Some("Running"), PodPhase::Running),
        (Some("Succeeded"), PodPhase::Succeeded),
        (Some("Failed"), PodPhase::Failed),
        (Some("Unknown"), PodPhase::Unknown),
        (Some("Exploded"), PodPhase::Unknown),
        (None, PodPhase::Unknown),
    ] {
        assert_eq!(PodPhase::parse(phase), parsed);
    }
}

#[test]
fn the_current_attempts_driver_is_preferred_and_every_attempt_is_listed() {
    let old = driver("old-driver", "attempt-0", json!({ "phase": "Running" }));
    let current = driver("pi-driver", "attempt-1", json!({ "phase": "Pending" }));
    let observed = observe(&running_app(), &[old.clone(), current.clone()], at(0));
    let DriverObservation::Pod(read) = &observed.driver else {
        panic!("a driver")
    };
    assert_eq!(read.name, "pi-driver");
    assert_eq!(
        observed.attempts_with_resources,
        ["attempt-0".to_string(), "attempt-1".to_string()].into()
    );

    // Without a current one, the pod named as the application's driver comes first.
    let named = driver("pi-driver", "attempt-2", json!({ "phase": "Pending" }));
    let observed = observe(&running_app(), &[old, named], at(0));
    let DriverObservation::Pod(read) = &observed.driver else {
        panic!("a driver")
    };
    assert_eq!(read.submission_id.as_deref(), Some("attempt-2"));
}

#[test]
fn pods_of_other_applications_and_namespaces_are_ignored() {
    let mut elsewhere = driver("pi-driver", "attempt-1", json!({ "phase": "Running" }));
    elsewhere.metadata.namespace = Some("other".into());
    let other_app = pod(
        "etl-driver",
        json!({ "spark-role": "driver", "sparkoperator.k8s.io/app-name": "etl" }),
        json!({ "phase": "Running" }),
    );
    let observed = observe(&running_app(), &[elsewhere, other_app], at(0));
    assert_eq!(observed.driver, DriverObservation::NotFound);
    assert!(observed.attempts_with_resources.is_empty());
}

#[test]
fn executor_pods_are_read_in_name_order() {
    let pods = [
        executor(
            "pi-exec-2",
            "2",
            json!({
                "phase": "Failed",
                "message": "node lost",
                "containerStatuses": [
                    { "name": "executor", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                      "state": { "terminated": { "exitCode": 143, "reason": "Error" } } },
                ],
            }),
        ),
        executor("pi-exec-1", "not-a-number", json!({ "phase": "Running" })),
    ];
    let observed = observe(&running_app(), &pods, at(0));
    let names: Vec<_> = observed.executors.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["pi-exec-1", "pi-exec-2"]);
    let [first, second] = &observed.executors[..] else {
        panic!("two executors")
    };
    assert_eq!(first.executor_id, None);
    assert_eq!(first.phase, PodPhase::Running);
    assert_eq!(second.executor_id, Some(2));
    assert_eq!(second.submission_id.as_deref(), Some("attempt-1"));
    assert_eq!(second.terminated, exited(143, "Error"));
    assert_eq!(second.pod_message.as_deref(), Some("node lost"));
    assert!(
        observed.attempts_with_resources.is_empty(),
        "executors are not attempt objects"
    );
}

#[test]
fn observed_pods_drive_a_decision() {
    let app = running_app();
    let pods = vec![
        std::sync::Arc::new(driver(
            "pi-driver",
            "attempt-1",
            json!({ "phase": "Succeeded" }),
        )),
        std::sync::Arc::new(executor("pi-exec-1", "1", json!({ "phase": "Succeeded" }))),
    ];
    let decision = decide(&app, &observe(&app, &pods, at(9)));
    assert_eq!(state_of(&decision), State::Succeeding);
    assert_eq!(
        decision.status.executor_state["pi-exec-1"],
        spark_operator_api::ExecutorState::Completed
    );
}

#[test]
fn a_repeated_submission_finds_its_driver_beside_the_previous_attempts() {
    let mut app = app_in(
        policy(RestartPolicyType::Always),
        status_in(State::PendingRerun),
    );
    app.spec.driver.pod_name = Some("pi-driver-v2".into());
    let status = app.status.clone().unwrap_or_default();
    let next = submission_id(&app, &status);
    let previous = driver("pi-driver", "attempt-1", json!({ "phase": "Failed" }));
    let created = driver("pi-driver-v2", &next, json!({ "phase": "Pending" }));
    let observed = observe(&app, &[previous, created], at(0));
    let decision = decide(&app, &observed);
    assert_eq!(state_of(&decision), State::Submitted);
    assert_eq!(effects(&decision.actions), vec![]);
    assert_eq!(decision.status.submission_id, Some(next));
    assert_eq!(
        decision.status.driver_info.pod_name.as_deref(),
        Some("pi-driver-v2")
    );
}
