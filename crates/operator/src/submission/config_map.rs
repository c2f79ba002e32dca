//! The driver's ConfigMap holding `spark.properties`, and Kubeflow's Prometheus ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::driver_pod::SPARK_PROPERTIES;
use super::monitoring::Prometheus;
use super::names::LABEL_CREATED_BY;
use super::spec::Prepared;
use super::{SubmissionContext, SubmissionNames, properties};

/// The driver's configuration, as spark-submit stores it: `spark.properties` written with Java's
/// escaping, plus a `spark.kubernetes.namespace` entry (spark-submit passes the namespace to its
/// ConfigMap builder that way, and it stays in the data).
pub fn driver_config_map(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    names: &SubmissionNames,
    spark_properties: &BTreeMap<String, String>,
) -> ConfigMap {
    let comment = format!(
        "Java properties built from Kubernetes config map with name: {}",
        names.driver_config_map
    );
    let text = properties::write(
        spark_properties,
        &comment,
        &properties::java_date(ctx.submit_time_ms),
    );
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(names.driver_config_map.clone()),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(prepared.resource_labels(ctx)),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        immutable: Some(true),
        data: Some(BTreeMap::from([
            (SPARK_PROPERTIES.to_string(), text),
            (
                "spark.kubernetes.namespace".to_string(),
                prepared.namespace.clone(),
            ),
        ])),
        ..Default::default()
    }
}

/// `<app>-prom-conf`, when Prometheus monitoring needs configuration the image does not have.
pub fn prometheus_config_map(prepared: &Prepared, ctx: &SubmissionContext) -> Option<ConfigMap> {
    let prometheus = Prometheus::of(&prepared.spec).filter(Prometheus::needs_config_map)?;
    let mut labels = prepared.resource_labels(ctx);
    labels.insert(LABEL_CREATED_BY.into(), "true".into());
    Some(ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{}-prom-conf", prepared.name)),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        data: Some(prometheus.config_map_data()),
        ..Default::default()
    })
}
