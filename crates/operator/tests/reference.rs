//! The reference pages under `docs/reference/` that come from this crate and the chart are what
//! the code declares: regenerate them with `UPDATE_REFERENCE=1 cargo test --workspace --test
//! reference` when this fails.

use std::path::Path;

use spark_operator::metrics::{Metrics, MetricsConfig};
use testkit::reference::{self, api, cli, helm_values, metrics};
use testkit::repository;

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_api_reference_is_fresh() {
    let crds = [
        read("deploy/crds/sparkoperator.k8s.io_sparkapplications.yaml"),
        read("deploy/crds/sparkoperator.k8s.io_scheduledsparkapplications.yaml"),
        read("deploy/crds/sparkoperator.k8s.io_sparkconnects.yaml"),
    ];
    let texts: Vec<&str> = crds.iter().map(String::as_str).collect();
    let page = api::page(&texts);
    for field in ["`spec.driver.memory`", "`spec.schedule`", "`spec.server`"] {
        assert!(
            page.contains(field),
            "{field} missing from the API reference"
        );
    }
    reference::check("api.md", &page);
}

#[test]
fn the_helm_values_reference_is_fresh() {
    let chart = "deploy/helm/spark-operator";
    let page = helm_values::page(
        &read(&format!("{chart}/values.yaml")),
        &read(&format!("{chart}/values.schema.json")),
    );
    for key in [
        "`controller.replicas`",
        "`webhook.enable`",
        "`spark.jobNamespaces`",
    ] {
        assert!(
            page.contains(key),
            "{key} missing from the values reference"
        );
    }
    reference::check("helm-values.md", &page);
}

#[test]
fn the_metrics_reference_is_fresh() {
    let page = metrics::page(&Metrics::describe(MetricsConfig::default()));
    for name in [
        "`spark_application_count`",
        "`controller_runtime_reconcile_total`",
        "`rest_client_requests_total`",
    ] {
        assert!(
            page.contains(name),
            "{name} missing from the metrics reference: {page}"
        );
    }
    reference::check("metrics.md", &page);
}

#[test]
fn the_spark_operator_command_reference_is_fresh() {
    let page = cli::page(
        "spark-operator",
        Path::new(env!("CARGO_BIN_EXE_spark-operator")),
        "`spark-operator`'s clap definitions (`crates/operator/src/cli/`)",
    );
    assert!(
        page.contains("## `spark-operator controller start`"),
        "{page}"
    );
    reference::check("cli-spark-operator.md", &page);
}
