use std::collections::BTreeMap;

use super::*;
use serde_json::json;

fn pod(volumes: Value, container: Value) -> Value {
    json!({"metadata": {"name": "p", "namespace": "jobs"},
           "spec": {"volumes": volumes, "containers": [container]},
           "status": {"qosClass": "BestEffort"}})
}

fn with_config_map(name: &str, keys: &[&str]) -> Sources {
    let mut sources = Sources::default();
    let data: BTreeMap<String, String> = keys.iter().map(|k| (k.to_string(), "v".into())).collect();
    sources.config_maps.insert(name.into(), data);
    sources
}

#[test]
fn volumes_wait_for_their_sources_in_the_kubelets_words() {
    let pod = pod(
        json!([{"name": "conf", "configMap": {"name": "settings"}},
               {"name": "creds", "secret": {"secretName": "token", "optional": true}},
               {"name": "both", "projected": {"sources": [
                   {"configMap": {"name": "settings", "items": [{"key": "k", "path": "k"}]}},
                   {"secret": {"name": "other"}}]}}]),
        json!({"name": "main", "image": "busybox"}),
    );
    assert_eq!(referenced(&pod).0, BTreeSet::from(["settings".to_string()]));
    assert_eq!(
        unmountable(&pod, &Sources::default()),
        vec![
            (
                "conf".to_string(),
                "MountVolume.SetUp failed for volume \"conf\" : configmap \"settings\" not found"
                    .to_string()
            ),
            (
                "both".to_string(),
                "MountVolume.SetUp failed for volume \"both\" : [configmap \"settings\" not found, \
                 secret \"other\" not found]"
                    .to_string()
            ),
        ]
    );
    let mut sources = with_config_map("settings", &["other"]);
    sources.secrets.insert("other".into(), BTreeMap::new());
    assert_eq!(
        unmountable(&pod, &sources),
        vec![(
            "both".to_string(),
            "MountVolume.SetUp failed for volume \"both\" : configmap references non-existent \
             config key: k"
                .to_string()
        )]
    );
}

#[test]
fn a_missing_environment_source_is_a_config_error_until_it_appears() {
    let pod = pod(
        json!([]),
        json!({"name": "main", "image": "busybox",
               "envFrom": [{"configMapRef": {"name": "settings"}}],
               "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}]}),
    );
    let mut tries = Tries::default();
    let now = Instant::now();
    let blocked = check(&pod, &Sources::default(), &[], &mut tries, now);
    assert_eq!(blocked.containers[0].reason, "CreateContainerConfigError");
    assert_eq!(
        blocked.containers[0].message,
        "configmap \"settings\" not found"
    );
    assert_eq!(
        blocked.events[0].message,
        "Error: configmap \"settings\" not found"
    );
    assert_eq!(blocked.next, FIRST_CONFIG_RETRY);
    let keyless = check(
        &pod,
        &with_config_map("settings", &[]),
        &[],
        &mut tries,
        now,
    );
    assert_eq!(
        keyless.containers[0].message,
        "couldn't find key k in ConfigMap jobs/settings"
    );
    assert!(
        check(
            &pod,
            &with_config_map("settings", &["k"]),
            &[],
            &mut tries,
            now
        )
        .is_empty()
    );
}

#[test]
fn an_unpullable_image_fails_then_backs_off() {
    let pod = pod(json!([]), json!({"name": "main", "image": "ghost:1"}));
    let patterns = ["ghost:*".to_string()];
    let mut tries = Tries::default();
    let start = Instant::now();
    let first = check(&pod, &Sources::default(), &patterns, &mut tries, start);
    assert_eq!(first.containers[0].reason, "ErrImagePull");
    let reasons: Vec<&str> = first.events.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, ["Pulling", "Failed", "Failed"]);
    assert_eq!(first.events[2].message, "Error: ErrImagePull");
    let later = start + Duration::from_secs(1);
    let backing_off = check(&pod, &Sources::default(), &patterns, &mut tries, later);
    assert_eq!(backing_off.containers[0].reason, "ImagePullBackOff");
    assert!(
        backing_off.containers[0]
            .message
            .starts_with("Back-off pulling image \"ghost:1\": ErrImagePull: rpc error")
    );
    assert_eq!(backing_off.events[0].reason, "BackOff");
    assert_eq!(backing_off.next, Duration::from_secs(9));
    let quiet = check(&pod, &Sources::default(), &patterns, &mut tries, later);
    assert!(quiet.events.is_empty(), "the back-off is reported once");
    let status = waiting_status(&pod, &backing_off, "127.0.0.1", "127.1.0.9", "t");
    assert_eq!(status["phase"], "Pending");
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    assert_eq!(status["podIP"], "127.1.0.9");
}

#[test]
fn a_pod_waiting_for_volumes_has_no_ip_and_its_init_containers_wait() {
    let mut pod = pod(
        json!([{"name": "conf", "configMap": {"name": "settings"}}]),
        json!({"name": "main", "image": "busybox"}),
    );
    pod["spec"]["initContainers"] = json!([{"name": "setup", "image": "busybox"}]);
    let mut tries = Tries::default();
    let blocked = check(&pod, &Sources::default(), &[], &mut tries, Instant::now());
    assert_eq!(blocked.next, FIRST_MOUNT_RETRY);
    assert_eq!(blocked.events[0].reason, "FailedMount");
    let status = waiting_status(&pod, &blocked, "127.0.0.1", "127.1.0.9", "t");
    assert!(status.get("podIP").is_none());
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert_eq!(status["conditions"][0]["status"], "False");
    let again = check(&pod, &Sources::default(), &[], &mut tries, Instant::now());
    assert_eq!(again.next, FIRST_MOUNT_RETRY * 2);
}
