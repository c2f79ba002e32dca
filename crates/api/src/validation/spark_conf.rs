//! The `sparkConf` keys that belong to the operator, refused as Kubeflow's admission webhook
//! refuses them: the service accounts, credentials, master URL and images the spec sets in its own
//! fields, and a namespace other than the application's. A key set here would otherwise override
//! what the operator set (an OAuth token, say, would let a driver act as someone else). Shared by
//! every resource with a `sparkConf` (SparkApplication, a schedule's template, SparkConnect).

use std::collections::BTreeMap;

use super::Problems;

/// Each refused key and what to do instead.
const DENIED: &[(&str, &str)] = &[
    (
        "spark.kubernetes.authenticate.driver.serviceAccountName",
        "the driver's service account is set by driver.serviceAccount: move it there",
    ),
    (
        "spark.kubernetes.authenticate.executor.serviceAccountName",
        "the executors' service account is set by executor.serviceAccount: move it there",
    ),
    ("spark.kubernetes.authenticate.oauthTokenFile", CREDENTIALS),
    ("spark.kubernetes.authenticate.oauthToken", CREDENTIALS),
    (
        "spark.kubernetes.authenticate.driver.oauthTokenFile",
        CREDENTIALS,
    ),
    (
        "spark.kubernetes.authenticate.driver.oauthToken",
        CREDENTIALS,
    ),
    (
        "spark.kubernetes.authenticate.executor.oauthTokenFile",
        CREDENTIALS,
    ),
    (
        "spark.kubernetes.authenticate.executor.oauthToken",
        CREDENTIALS,
    ),
    ("spark.master", MASTER),
    ("spark.kubernetes.driver.master", MASTER),
    (
        "spark.kubernetes.container.image",
        "the image is set by image (spec.image): move it there",
    ),
    (
        "spark.kubernetes.driver.container.image",
        "the driver's image is set by driver.image: move it there",
    ),
    (
        "spark.kubernetes.executor.container.image",
        "the executors' image is set by executor.image: move it there",
    ),
];

const CREDENTIALS: &str = "credentials are the operator's to manage (pods authenticate with their service account's token): remove it";
const MASTER: &str =
    "the operator sets the API server drivers talk to (its --master-url): remove it";

/// The namespace key, allowed only with the resource's own namespace.
const NAMESPACE: &str = "spark.kubernetes.namespace";

/// A problem for each key of `conf` (at `path`, e.g. `spec.sparkConf`) that is the operator's, or
/// that names a namespace other than `namespace`.
pub(crate) fn spark_conf_problems(
    conf: &BTreeMap<String, String>,
    namespace: &str,
    path: &str,
    p: &mut Problems,
) {
    for (key, value) in conf {
        if let Some((_, fix)) = DENIED.iter().find(|(denied, _)| denied == key) {
            p.add(format!("{path}[{key}]"), format!("is not allowed: {fix}"));
        } else if key == NAMESPACE && value != namespace {
            p.add(
                format!("{path}[{key}]"),
                format!(
                    "{value:?} is not the namespace of the resource ({namespace:?}): an application runs in its own namespace; remove the key"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
        let conf = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut p = Problems::default();
        spark_conf_problems(&conf, "team-a", "spec.sparkConf", &mut p);
        p.into_vec().into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn every_key_kubeflow_denies_is_refused_with_the_field_and_the_fix() {
        for (key, _) in DENIED {
            let found = problems(&[(key, "x")]);
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert!(
                found[0].starts_with(&format!("spec.sparkConf[{key}]: is not allowed: ")),
                "{found:?}"
            );
        }
        let service_account = problems(&[(
            "spark.kubernetes.authenticate.driver.serviceAccountName",
            "admin",
        )]);
        assert!(service_account[0].contains("driver.serviceAccount"));
        let token = problems(&[("spark.kubernetes.authenticate.oauthToken", "secret")]);
        assert!(token[0].contains("credentials"), "{token:?}");
    }

    #[test]
    fn the_namespace_key_must_be_the_resources_own() {
        assert!(problems(&[("spark.kubernetes.namespace", "team-a")]).is_empty());
        let other = problems(&[("spark.kubernetes.namespace", "kube-system")]);
        assert_eq!(other.len(), 1);
        assert!(
            other[0].contains("\"kube-system\" is not the namespace"),
            "{other:?}"
        );
        assert!(problems(&[("spark.executor.cores", "2"), ("spark.ui.port", "4045")]).is_empty());
    }
}
