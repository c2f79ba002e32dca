//! Installing what the operator's applications need, by server-side apply so that doing it again
//! updates it in place: the CRDs, and, for a cluster that no Helm chart installed (the quick
//! start's), the Spark service account of a job namespace, as the chart makes it.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};

use crate::error::{Error, Result};

/// How long the API server may take to serve a CRD it was given.
const ESTABLISHED_WITHIN: u64 = 30;

/// The field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "spark-operator";

/// Applies every CRD and waits until the API server serves them.
pub async fn install_crds(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in spark_operator_api::crd::all() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await?;
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(
            std::time::Duration::from_secs(ESTABLISHED_WITHIN),
            established,
        )
        .await
        .map_err(|_| Error::CrdNotEstablished {
            name: name.clone(),
            seconds: ESTABLISHED_WITHIN,
        })?
        .map_err(|source| Error::CrdWatch { name, source })?;
    }
    Ok(())
}

/// The service account the Helm chart makes for Spark drivers in each job namespace
/// (`spark.serviceAccount.name`'s default for the release `spark-operator`).
pub const CHART_SPARK_SERVICE_ACCOUNT: &str = "spark-operator-spark";

/// What a Spark driver may do in its namespace: the rules the chart grants its Spark service
/// account (`files/spark-rules.yaml`).
const SPARK_RULES: &str =
    include_str!("../../../deploy/helm/spark-operator/files/spark-rules.yaml");

/// Makes the service account `name` of `namespace` with the Role and RoleBinding the Helm chart
/// gives its Spark service account, as `helm install` does for each of its job namespaces: the
/// API server refuses a driver pod whose service account does not exist.
pub async fn install_spark_service_account(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let rules: Vec<PolicyRule> =
        serde_yaml::from_str(SPARK_RULES).expect("the chart's Spark rules parse");
    let labels = serde_json::json!({"app.kubernetes.io/name": "spark-operator"});
    let metadata = serde_json::json!({"name": name, "namespace": namespace, "labels": labels});
    let account = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": metadata});
    apply::<ServiceAccount>(client, namespace, name, account).await?;
    let role = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": metadata, "rules": rules});
    apply::<Role>(client, namespace, name, role).await?;
    let binding = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": metadata,
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    });
    apply::<RoleBinding>(client, namespace, name, binding).await?;
    Ok(())
}

/// Server-side applies `object` (a `K`) as `namespace/name`.
async fn apply<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    object: serde_json::Value,
) -> Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let typed: K = serde_json::from_value(object)?;
    Api::<K>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&typed),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_charts_spark_rules_parse() {
        let rules: Vec<super::PolicyRule> = serde_yaml::from_str(super::SPARK_RULES).unwrap();
        assert!(
            rules[0]
                .resources
                .as_ref()
                .unwrap()
                .contains(&"pods".to_string())
        );
    }
}
