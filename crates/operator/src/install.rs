//! Installing the CRDs, by server-side apply, so that an operator upgrade updates them in place.

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
