//! Kubeflow's Ingresses: the Spark UI Ingress when the operator has an Ingress URL format, and one
//! per `driverIngressOptions` entry with a format.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use spark_operator_api::{DriverIngressConfiguration, IngressTls};

use super::SubmissionContext;
use super::ingress_url::{IngressUrl, ingress_url, ui_ingress_format};
use super::names::kubeflow_generated_name;
use super::service;
use super::spec::Prepared;

/// The UI Ingress, when the UI Service is enabled and the operator has an Ingress URL format.
pub fn ui_ingress(prepared: &Prepared, ctx: &SubmissionContext, ui_port: i32) -> Option<Ingress> {
    let format = ui_ingress_format(ctx)?;
    let url = ingress_url(format, &prepared.name, &prepared.namespace, &ctx.app_id);
    let ui = prepared.spec.spark_ui_options.as_ref();
    let annotations = ui
        .map(|o| o.ingress_annotations.clone())
        .unwrap_or_default();
    let tls = ui.map(|o| o.ingress_tls.clone()).unwrap_or_default();
    Some(build(
        prepared,
        ctx,
        kubeflow_generated_name(&prepared.name, "ui-ingress"),
        &url,
        (service::ui_service_name(&prepared.name), ui_port),
        annotations,
        &tls,
    ))
}

/// The Ingress of one `driverIngressOptions` entry, if it has a URL format.
pub fn driver_ingress(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    options: &DriverIngressConfiguration,
) -> Option<Ingress> {
    let format = options
        .ingress_url_format
        .as_deref()
        .filter(|f| !f.is_empty())?;
    let url = ingress_url(format, &prepared.name, &prepared.namespace, &ctx.app_id);
    let port = options.service_port;
    Some(build(
        prepared,
        ctx,
        format!("{}-ing-{port}", prepared.name),
        &url,
        (
            service::driver_ingress_service_name(&prepared.name, port),
            port,
        ),
        options.ingress_annotations.clone(),
        &options.ingress_tls,
    ))
}

fn build(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    name: String,
    url: &IngressUrl,
    (service_name, service_port): (String, i32),
    annotations: BTreeMap<String, String>,
    tls: &[IngressTls],
) -> Ingress {
    let mut annotations = if annotations.is_empty() {
        ctx.options.ingress_annotations.clone()
    } else {
        annotations
    };
    let tls = if tls.is_empty() {
        ctx.options.ingress_tls.as_slice()
    } else {
        tls
    };
    let sub_path = !url.path.is_empty() && url.path != "/";
    let path = if sub_path {
        format!("{}(/|$)(.*)", url.path)
    } else {
        url.path.clone()
    };
    if sub_path {
        annotations.insert(
            "nginx.ingress.kubernetes.io/rewrite-target".into(),
            "/$2".into(),
        );
    }
    Ingress {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(prepared.resource_labels(ctx)),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: ctx
                .options
                .ingress_class_name
                .clone()
                .filter(|c| !c.is_empty()),
            rules: Some(vec![IngressRule {
                host: (!url.host.is_empty()).then(|| url.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: (!path.is_empty()).then_some(path),
                        path_type: "ImplementationSpecific".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: service_name,
                                port: Some(ServiceBackendPort {
                                    number: Some(service_port),
                                    name: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls: (!tls.is_empty()).then(|| {
                tls.iter()
                    .map(|t| IngressTLS {
                        hosts: (!t.hosts.is_empty()).then(|| t.hosts.clone()),
                        secret_name: t.secret_name.clone(),
                    })
                    .collect()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_urls_like_kubeflow() {
        let url = ingress_url(
            "{{$appName}}.{{ $appNamespace }}.example.com",
            "pi",
            "jobs",
            "spark-1",
        );
        assert_eq!(
            url,
            IngressUrl {
                host: "pi.jobs.example.com".into(),
                path: String::new()
            }
        );
        let url = ingress_url(
            "https://ui.example.com/{{$appNamespace}}/{{$appName}}?x=1",
            "pi",
            "jobs",
            "id",
        );
        assert_eq!(
            url,
            IngressUrl {
                host: "ui.example.com".into(),
                path: "/jobs/pi".into()
            }
        );
        let url = ingress_url("example.com:8080/apps/{{$appId}}", "pi", "ns", "spark-abc");
        assert_eq!(url.path, "/apps/spark-abc");
        assert_eq!(url.host, "example.com:8080");
        assert_eq!(url.to_string(), "http://example.com:8080/apps/spark-abc");
    }
}
