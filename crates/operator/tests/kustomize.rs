//! The kustomize install, `deploy/kustomize` (as Kubeflow's `config/`): its generated files are
//! the CRDs and the chart rendered for it (so its RBAC is the chart's, checked against the
//! operator's requests), and the real `kubectl apply -k` of it on a local cluster that enforces
//! RBAC gives an operator that, started with the Deployment's arguments and a token of its
//! ServiceAccount, runs spark-pi to completion.

use std::path::PathBuf;

use kube::Api;
use spark_operator_api::ApplicationStateType as State;
use spark_operator_api::SparkApplication;
use testkit::helm::install::{Process, install_kustomization};
use testkit::helm::{self, Release, chart_dir};
use testkit::kubectl::path_arg;
use testkit::{repository, within};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

fn kustomization() -> PathBuf {
    repository().join("deploy/kustomize")
}

/// What `crds.yaml` and `operator.yaml` hold: the CRDs, and the chart rendered with its default
/// values for the release `spark-operator` in `spark-operator`, labelled as kustomize's.
fn generated() -> [(&'static str, String); 2] {
    let crds: String = spark_operator_api::crd::all()
        .into_iter()
        .map(|(_, crd)| format!("---\n{}", spark_operator_api::crd::to_yaml(&crd).unwrap()))
        .collect();
    let release = Release {
        name: "spark-operator",
        namespace: "spark-operator",
        values: "",
    };
    let rendered = helm::render(&chart_dir(), &release).expect("the chart renders");
    let operator: String = helm::manifest(&rendered)
        .lines()
        .filter(|l| !l.trim_start().starts_with("helm.sh/chart:"))
        .map(|l| {
            l.replace(
                "app.kubernetes.io/managed-by: Helm",
                "app.kubernetes.io/managed-by: kustomize",
            )
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let header =
        "# Generated from the Helm chart (crates/operator/tests/kustomize.rs): do not edit.\n";
    [
        ("crds.yaml", format!("{header}{crds}")),
        ("operator.yaml", format!("{header}{operator}")),
    ]
}

#[test]
fn the_kustomization_is_the_chart_rendered_for_it() {
    for (file, expected) in generated() {
        let path = kustomization().join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "{path:?} is stale: cargo test -p spark-operator --test kustomize -- --ignored regenerate_kustomization"
        );
    }
}

#[test]
#[ignore = "writes deploy/kustomize's generated files"]
fn regenerate_kustomization() {
    for (file, text) in generated() {
        std::fs::write(kustomization().join(file), text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_k_installs_an_operator_that_runs_spark_pi() {
    let installed = install_kustomization(&kustomization()).await;
    tokio::spawn(localcluster::simulation::run(
        installed.admin.clone(),
        localcluster::simulation::NodesConfig::default(),
    ));
    assert!(
        installed
            .applied
            .contains("deployment.apps/spark-operator-controller serverside-applied"),
        "{}",
        installed.applied
    );
    let deployment = installed.deployment("spark-operator-controller");
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap();
    let kubeconfig = installed.kubeconfig_of(account, None).await;
    let free = "127.0.0.1:0".to_string();
    let args = installed.container_args(
        "spark-operator-controller",
        &[
            ("--metrics-bind-address", free.clone()),
            ("--health-probe-bind-address", free),
        ],
    );
    let log = installed.dir.path().join("operator.log");
    let mut operator = Process::start(
        BINARY,
        &args,
        &kubeconfig,
        "spark-operator-controller-0",
        log,
    );
    let example = repository().join("examples/spark-pi.yaml");
    installed
        .kubectl
        .ok(&["apply", "-f", path_arg(&example)])
        .await;
    let apps: Api<SparkApplication> = Api::namespaced(installed.admin.clone(), "default");
    let completed = within(90, || async {
        let state = apps
            .get("spark-pi")
            .await
            .ok()?
            .status?
            .application_state
            .state;
        (state == State::Completed).then_some(())
    })
    .await;
    assert!(
        completed.is_some(),
        "spark-pi did not complete:\n{}",
        operator.log()
    );
    let log = operator.log();
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");
    let status = operator.terminate().await;
    assert!(status.success(), "{status:?}\n{}", operator.log());
}
