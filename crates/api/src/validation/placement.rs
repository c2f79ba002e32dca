//! Rules on where and how the driver is reached and placed that Kubeflow's admission webhook
//! applies: one node selector, either for the whole application or per role; driver Ingresses
//! that each have their own port and URL; pod templates only with a Spark that reads them (3.0
//! and later).

use std::collections::BTreeMap;

use super::Problems;
use crate::SparkApplicationSpec;

/// `nodeSelector` of the application and of a role at once: which wins would be a guess.
pub(crate) fn node_selectors(spec: &SparkApplicationSpec, prefix: &str, p: &mut Problems) {
    if spec.node_selector.is_empty() {
        return;
    }
    for (role, selector) in [
        ("driver", &spec.driver.pod.node_selector),
        ("executor", &spec.executor.pod.node_selector),
    ] {
        if !selector.is_empty() {
            p.add(
                format!("{prefix}.{role}.nodeSelector"),
                format!(
                    "is set beside {prefix}.nodeSelector: set the node selector either for the whole application or per role, not both"
                ),
            );
        }
    }
}

/// Each `driverIngressOptions` entry needs a URL format, and no two share a port or a format:
/// their Services and Ingresses would be the same objects.
pub(crate) fn driver_ingress_options_are_distinct(
    spec: &SparkApplicationSpec,
    prefix: &str,
    p: &mut Problems,
) {
    let mut ports = BTreeMap::new();
    let mut formats = BTreeMap::new();
    for (i, options) in spec.driver_ingress_options.iter().enumerate() {
        let path = format!("{prefix}.driverIngressOptions[{i}]");
        if let Some(first) = ports.insert(options.service_port, i) {
            p.add(
                format!("{path}.servicePort"),
                format!(
                    "{} is also the port of driverIngressOptions[{first}]: give each entry its own port",
                    options.service_port
                ),
            );
        }
        match options.ingress_url_format.as_deref().map(str::trim) {
            None | Some("") => p.add(
                format!("{path}.ingressURLFormat"),
                "is missing: give the Ingress host (and path), e.g. \"{{$appName}}.ingress.example.com\"",
            ),
            Some(format) => {
                if let Some(first) = formats.insert(format.to_string(), i) {
                    p.add(
                        format!("{path}.ingressURLFormat"),
                        format!(
                            "{format:?} is also the URL of driverIngressOptions[{first}]: give each entry its own"
                        ),
                    );
                }
            }
        }
    }
}

/// Pod templates are read by Spark 3.0 and later only.
pub(crate) fn pod_templates_need_spark_3(
    spec: &SparkApplicationSpec,
    prefix: &str,
    p: &mut Problems,
) {
    let Some(major) = spark_major(&spec.spark_version).filter(|m| *m < 3) else {
        return;
    };
    for role in ["driver", "executor"] {
        let template = match role {
            "driver" => &spec.driver.pod.template,
            _ => &spec.executor.pod.template,
        };
        if template.is_some() {
            p.add(
                format!("{prefix}.{role}.template"),
                format!(
                    "needs Spark 3.0 or later, and sparkVersion is {:?} (Spark {major}): remove the template or use a newer Spark",
                    spec.spark_version
                ),
            );
        }
    }
}

/// The major version of a `sparkVersion` such as `3.5.1` or `v4.0.0`, when it has one.
pub(crate) fn spark_major(version: &str) -> Option<u32> {
    version
        .trim()
        .trim_start_matches('v')
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse::<u32>().ok())
}
