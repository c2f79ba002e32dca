//! The Helm chart installed as `helm install` would install it, where no container engine can
//! run (`testkit::helm::install`); then the operator binary, started with the
//! arguments of the chart's Deployment and a token of the chart's ServiceAccount, runs an example
//! to completion. That the chart grants no more than needed is checked in tests/runtime.rs.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::{Api, Client};
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::helm::install::{Process, RELEASE, RELEASE_NAMESPACE, find, install};
use testkit::kubectl::{Kubectl, path_arg};
use testkit::{repository, within};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

/// What an install would set (README's `helm install`).
const INSTALL_VALUES: &str = "spark:\n  jobNamespaces: [default]\ncontroller:\n  replicas: 2\n";

async fn wait_for_state(client: &Client, name: &str, state: State, replicas: &[Process]) {
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
        replicas
            .iter()
            .map(Process::log)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_chart_applied_with_kubectl_runs_an_example_under_its_own_rbac() {
    let installed = install(INSTALL_VALUES).await;
    let admin = installed.admin.clone();
    tokio::spawn(localcluster::simulation::run(
        admin.clone(),
        localcluster::simulation::NodesConfig::default(),
    ));
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

    // The container as the Deployment runs it: the image's entrypoint with the chart's args;
    // only the listen addresses change, to free ports, because tests run side by side.
    let free = "127.0.0.1:0".to_string();
    let args = installed.container_args(
        "spark-operator-controller",
        &[
            ("--metrics-bind-address", free.clone()),
            ("--health-probe-bind-address", free),
        ],
    );
    assert_eq!(args[..2], ["controller", "start"]);
    // Every replica the Deployment asks for: one leads, the others stand by.
    let replicas: Vec<Process> = (0..deployment["spec"]["replicas"].as_u64().unwrap())
        .map(|i| {
            let log = installed.dir.path().join(format!("operator-{i}.log"));
            let pod = format!("spark-operator-controller-{i}");
            Process::start(BINARY, &args, &operator_config, &pod, log)
        })
        .collect();

    let example = repository().join("examples/spark-pi.yaml");
    kubectl.ok(&["apply", "-f", path_arg(&example)]).await;
    wait_for_state(&admin, "spark-pi", State::Completed, &replicas).await;

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
    // One of them leads through the lock the chart's Role lets it hold; nothing any replica
    // asked was refused, and each stops cleanly on SIGTERM.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), RELEASE_NAMESPACE);
    let lock = format!("{RELEASE}-controller-lock");
    let lease = leases.get(&lock).await.expect("the leader lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(
        holder.starts_with("spark-operator-controller-"),
        "{holder:?}"
    );
    for mut replica in replicas {
        let text = replica.log();
        assert!(!text.to_lowercase().contains("forbidden"), "{text}");
        let status = replica.terminate().await;
        assert!(status.success(), "{status:?}\n{}", replica.log());
    }
}
