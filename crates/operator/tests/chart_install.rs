//! The Helm chart installed as `helm install` would install it, where no container engine can
//! run (`testkit::helm::install`); then the chart's Deployment runs the
//! operator as pods: the local cluster maps the chart's image to the operator binary
//! (`--image-program`), its ReplicaSet makes the pods, which run under the chart's service account
//! and RBAC, pass the Deployment's probes, run examples to completion and hand the leader lease
//! over when the leader's pod is deleted. That the chart grants no more than needed is checked in
//! tests/runtime.rs.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{DeleteParams, ListParams, LogParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use localcluster::simulation::NodesConfig;
use localcluster::simulation::process::{ImageProgram, programs};
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::helm::install::{RELEASE, RELEASE_NAMESPACE, find, install};
use testkit::kubectl::{Kubectl, path_arg};
use testkit::{repository, within};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

/// What an install would set (README's `helm install`).
const INSTALL_VALUES: &str = "spark:\n  jobNamespaces: [default]\ncontroller:\n  replicas: 2\n";

/// The logs of the operator's pods, for failure messages.
async fn operator_logs(client: &Client) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let mut text = String::new();
    for pod in operator_pods(client).await {
        let log = pods.logs(&pod, &LogParams::default()).await;
        text.push_str(&format!("--- {pod}\n{}\n", log.unwrap_or_default()));
    }
    text
}

/// The operator's pods that are not being deleted.
async fn operator_pods(client: &Client) -> BTreeSet<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/component=controller");
    let list = pods.list(&selector).await.expect("list pods");
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// Waits until `count` of the operator's pods are Ready; their names.
async fn ready_operator_pods(client: &Client, count: usize) -> BTreeSet<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let ready = within(90, || async {
        let mut ready = BTreeSet::new();
        for name in operator_pods(client).await {
            let pod = pods.get(&name).await.ok()?;
            let conditions = pod.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
            {
                ready.insert(name);
            }
        }
        (ready.len() == count).then_some(ready)
    })
    .await;
    match ready {
        Some(ready) => ready,
        None => panic!(
            "not {count} ready operator pods; logs:\n{}",
            operator_logs(client).await
        ),
    }
}

/// The pod holding the operator's leader lease (whose identity is the pod's name and a unique
/// suffix), once it is one of `candidates`.
async fn lease_holder(client: &Client, candidates: &BTreeSet<String>) -> String {
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let lock = format!("{RELEASE}-controller-lock");
    let holder = within(60, || async {
        let lease = leases.get_opt(&lock).await.ok()??;
        let holder = lease.spec?.holder_identity?;
        let (pod, _) = holder.split_once('_')?;
        candidates.get(pod).cloned()
    })
    .await;
    match holder {
        Some(holder) => holder,
        None => panic!(
            "none of {candidates:?} holds the lease; logs:\n{}",
            operator_logs(client).await
        ),
    }
}

/// The holders the operator's lease has from now on, as a watch sees them, until one of a pod
/// other than the current holder's.
async fn lease_holders_from_now(client: &Client) -> tokio::task::JoinHandle<Vec<String>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let lock = format!("{RELEASE}-controller-lock");
    let current = leases.get(&lock).await.expect("the lease");
    let holder_of = |lease: &Lease| {
        let spec = lease.spec.clone().unwrap_or_default();
        spec.holder_identity.unwrap_or_default()
    };
    let first = holder_of(&current);
    let pod_of = |holder: &str| holder.split('_').next().unwrap_or_default().to_string();
    let version = current
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let params = WatchParams::default().fields(&format!("metadata.name={lock}"));
    let mut events = leases
        .watch(&params, &version)
        .await
        .expect("watch the lease")
        .boxed();
    tokio::spawn(async move {
        let mut holders = Vec::new();
        let watching = async {
            while let Some(event) = events.next().await {
                let Ok(WatchEvent::Modified(lease)) = event else {
                    continue;
                };
                let holder = holder_of(&lease);
                let taken = !holder.is_empty() && pod_of(&holder) != pod_of(&first);
                holders.push(holder);
                if taken {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(90), watching).await;
        holders
    })
}

async fn wait_for_state(client: &Client, name: &str, state: State) {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), "default");
    let current = || async {
        let app = apps.get_opt(name).await.expect("get application");
        app.and_then(|a| a.status)
            .map(|s| s.application_state.state)
    };
    let reached = within(90, || async {
        (current().await == Some(state)).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{name} is {:?}, not {state:?}; operator logs:\n{}",
        current().await,
        operator_logs(client).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_chart_applied_with_kubectl_runs_an_example_under_its_own_rbac() {
    let installed = install(INSTALL_VALUES).await;
    let admin = installed.admin.clone();
    // The nodes run the chart's image as the operator binary, as `localcluster --image-program`.
    let deployment = find(&installed.documents, "Deployment", RELEASE_NAMESPACE)[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with("ghcr.io/spark-operator-rs/spark-operator:"),
        "{image}"
    );
    let operator_image = ImageProgram {
        repository: programs::repository(image),
        program: BINARY.into(),
    };
    let pod_dir = installed.dir.path().join("pods");
    let runtime = installed
        .cluster
        .image_program_runtime(vec![operator_image], pod_dir);
    let nodes = NodesConfig {
        processes: Some(runtime),
        ..NodesConfig::default()
    };
    tokio::spawn(localcluster::simulation::run(admin.clone(), nodes));
    let (kubectl, manifest, applied) =
        (&installed.kubectl, &installed.manifest, &installed.applied);
    let docs = &installed.documents;
    for (kind, namespace) in [
        ("ServiceAccount", RELEASE_NAMESPACE),
        ("Deployment", RELEASE_NAMESPACE),
        ("Role", RELEASE_NAMESPACE),
        ("RoleBinding", RELEASE_NAMESPACE),
        ("Service", RELEASE_NAMESPACE),
        ("ServiceAccount", "default"),
        ("Role", "default"),
        ("RoleBinding", "default"),
    ] {
        assert_eq!(
            find(docs, kind, namespace).len(),
            1,
            "{kind} in {namespace}:\n{manifest}"
        );
    }
    assert!(
        applied.contains(
            "clusterrolebinding.rbac.authorization.k8s.io/spark-operator-controller created"
        ),
        "{applied}"
    );

    // The operator's identity: the service account the Deployment names, with a token from
    // the TokenRequest API, as the kubelet would mount it.
    let deployment = find(docs, "Deployment", RELEASE_NAMESPACE)[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let account = pod_spec["serviceAccountName"].as_str().unwrap();
    assert_eq!(
        find(docs, "ServiceAccount", RELEASE_NAMESPACE)[0]["metadata"]["name"],
        account
    );
    let operator_config = installed.kubeconfig_of(account, None).await;
    // RBAC is in force for it: granted reads work, others are refused.
    let operator = Kubectl::new(&operator_config);
    operator
        .ok(&["get", "sparkapplications", "-n", "default"])
        .await;
    let (ok, refused) = operator.run(&["get", "secrets", "-n", "default"]).await;
    assert!(!ok && refused.contains("forbidden"), "{refused}");
    assert!(
        refused.contains(&format!(
            "system:serviceaccount:{RELEASE_NAMESPACE}:{account}"
        )),
        "{refused}"
    );

    // The Deployment's ReplicaSet makes its pods; each passes its readiness probe (`/readyz` on
    // the health port), served by the operator at its pod's IP.
    assert_eq!(container["args"][0], "controller");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let first = ready_operator_pods(&admin, 2).await;

    let example = repository().join("examples/spark-pi.yaml");
    kubectl.ok(&["apply", "-f", path_arg(&example)]).await;
    wait_for_state(&admin, "spark-pi", State::Completed).await;

    // The driver ran as the Spark service account the chart made in the job namespace.
    let spark_account = find(docs, "ServiceAccount", "default")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    assert!(accounts.get_opt(&spark_account).await.unwrap().is_some());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let driver = pods.get("spark-pi-driver").await.expect("driver pod");
    assert_eq!(
        driver.spec.unwrap().service_account_name.as_deref(),
        Some(spark_account.as_str())
    );
    // One of them leads through the lock the chart's Role lets it hold (its identity is its pod
    // name, from the downward API); nothing any replica asked was refused.
    let leader = lease_holder(&admin, &first).await;
    let logs = operator_logs(&admin).await;
    assert!(!logs.to_lowercase().contains("forbidden"), "{logs}");

    // Deleting the leader's pod stops its process with SIGTERM: it releases the lease (an empty
    // holder, seen by a watch of the Lease before anyone takes it again). The ReplicaSet makes
    // another pod, and the lease goes to a live one.
    let holders = lease_holders_from_now(&admin).await;
    let operator_pods_api: Api<Pod> = Api::namespaced(admin.clone(), RELEASE_NAMESPACE);
    operator_pods_api
        .delete(&leader, &DeleteParams::default())
        .await
        .expect("leader deleted");
    let second = ready_operator_pods(&admin, 2).await;
    assert!(!second.contains(&leader), "{second:?}");
    assert_eq!(
        second.difference(&first).count(),
        1,
        "{first:?} then {second:?}"
    );
    let new_leader = lease_holder(&admin, &second).await;
    assert_ne!(new_leader, leader);
    let holders = holders.await.unwrap();
    let released = holders.iter().position(String::is_empty);
    assert!(
        released.is_some_and(|at| holders[..at].iter().all(|h| h.starts_with(&leader))),
        "the leader did not release the lease: holders {holders:?}"
    );

    // Another application runs to completion under the new leader.
    let yaml = std::fs::read_to_string(&example)
        .unwrap()
        .replace("name: spark-pi\n", "name: spark-pi-again\n");
    let (applied_again, output) = kubectl.apply(&yaml).await;
    assert!(applied_again, "{output}");
    wait_for_state(&admin, "spark-pi-again", State::Completed).await;
    let logs = operator_logs(&admin).await;
    assert!(!logs.to_lowercase().contains("forbidden"), "{logs}");
}
