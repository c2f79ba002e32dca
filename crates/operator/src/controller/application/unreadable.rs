//! An application whose spec the types cannot read: it ends FAILED with the fields that could not
//! be read and why, written by a merge patch that needs no typed copy; nothing is submitted.

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::SparkApplication;
use spark_operator_api::validation::{describe, validate_application_json};
use tracing::warn;

use super::Context;
use crate::error::Result;
use crate::shapes::CachedApplication;

/// Ends `cached` FAILED with every problem of the object as stored, named by the rules the webhook
/// and `spark-operator validate` apply to it (so all three give the same verdict), or with
/// `problem` when the object cannot be read at all.
pub async fn report(cached: &CachedApplication, problem: String, ctx: &Context) -> Result<Requeue> {
    let name = cached.name_any();
    let namespace = cached.namespace().unwrap_or_default();
    let apps = Api::<SparkApplication>::namespaced(ctx.client.clone(), &namespace);
    let problems = stored(&apps, &name)
        .await
        .map(|raw| validate_application_json(&raw))
        .filter(|problems| !problems.is_empty());
    let message = match problems {
        Some(problems) => format!("invalid SparkApplication:\n{}", describe(&problems)),
        None => format!(
            "the SparkApplication cannot be read: {problem}; correct that field and apply it again"
        ),
    };
    warn!(app = %name, %namespace, "{message}");
    let reference = cached.object_ref(&());
    ctx.events
        .publish_on(&reference, true, "SparkApplicationFailed", message.clone())
        .await;
    let patch = serde_json::json!({"status": {
        "applicationState": {"state": "FAILED", "errorMessage": message},
        "observedGeneration": cached.metadata.generation,
    }});
    apps.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(Requeue::await_change())
}

/// The application as stored, untyped.
async fn stored(apps: &Api<SparkApplication>, name: &str) -> Option<serde_json::Value> {
    let resource = kube::api::ApiResource::erase::<SparkApplication>(&());
    let namespace = apps.namespace()?;
    let raw: Api<kube::api::DynamicObject> =
        Api::namespaced_with(apps.clone().into_client(), namespace, &resource);
    serde_json::to_value(raw.get(name).await.ok()?).ok()
}
