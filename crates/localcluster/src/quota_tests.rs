use serde_json::json;

use super::*;

fn pod(resources: Value) -> Value {
    json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main", "resources": resources}]},
           "status": {"phase": "Pending"}})
}

fn quota(hard: Value, scopes: Value) -> Value {
    json!({"metadata": {"name": "compute"}, "spec": {"hard": hard, "scopes": scopes},
           "status": {"hard": hard, "used": {}}})
}

#[test]
fn a_pod_uses_its_requests_and_limits_until_it_ends() {
    let mut running =
        pod(json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}}));
    let usage = Evaluator::Pods.usage(&running);
    let printed: BTreeMap<&str, String> = usage
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_string()))
        .collect();
    assert_eq!(printed["pods"], "1");
    assert_eq!(printed["count/pods"], "1");
    assert_eq!(printed["requests.cpu"], "500m");
    assert_eq!(printed["cpu"], "500m");
    assert_eq!(printed["limits.cpu"], "1");
    assert_eq!(printed["requests.memory"], "1Gi");
    assert!(!usage.contains_key("limits.memory"));
    running["status"]["phase"] = json!("Succeeded");
    assert_eq!(
        Evaluator::Pods.usage(&running).keys().collect::<Vec<_>>(),
        ["count/pods"]
    );
}

#[test]
fn constraints_name_the_containers_missing_a_resource() {
    let hard = [
        "limits.cpu".to_string(),
        "limits.memory".to_string(),
        "pods".to_string(),
    ];
    let bare = pod(json!({}));
    assert_eq!(
        Evaluator::Pods.constraints(&hard, &bare),
        Err("must specify limits.cpu for: main; limits.memory for: main".to_string())
    );
    let limited = pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}));
    assert_eq!(Evaluator::Pods.constraints(&hard, &limited), Ok(()));
}

#[test]
fn scopes_select_pods() {
    let best_effort = pod(json!({}));
    let burstable = pod(json!({"requests": {"cpu": "1"}}));
    let scoped = quota(json!({"pods": "1"}), json!(["BestEffort"]));
    assert!(Evaluator::Pods.matches(&scoped, &best_effort));
    assert!(!Evaluator::Pods.matches(&scoped, &burstable));
    let mut deadline = burstable.clone();
    deadline["spec"]["activeDeadlineSeconds"] = json!(60);
    let not_terminating = quota(json!({"pods": "1"}), json!(["NotTerminating"]));
    assert!(Evaluator::Pods.matches(&not_terminating, &burstable));
    assert!(!Evaluator::Pods.matches(&not_terminating, &deadline));
    let counted = Evaluator::for_storage("configmaps");
    assert!(!counted.matches(&scoped, &json!({})));
    assert!(counted.matches(
        &quota(json!({"count/configmaps": "2"}), json!([])),
        &json!({})
    ));
}

#[test]
fn evaluators_of_a_quota() {
    let hard = quantity::resource_list(&json!({"pods": "2", "configmaps": "1",
        "count/deployments.apps": "1", "services.nodeports": "0"}));
    assert_eq!(
        evaluators_of(&hard),
        [
            Evaluator::for_storage("configmaps"),
            Evaluator::for_storage("deployments.apps"),
            Evaluator::Pods,
            Evaluator::Services,
        ]
    );
}
