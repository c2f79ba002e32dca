//! An application whose spec the types cannot read: it ends FAILED with the field that could not
//! be read and why, written by a merge patch that needs no typed copy; nothing is submitted.

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::SparkApplication;
use tracing::warn;

use super::Context;
use crate::error::Result;
use crate::shapes::CachedApplication;

/// Ends `cached` FAILED with `problem`, or with the path of the field that cannot be read when it
/// can be found.
pub async fn report(cached: &CachedApplication, problem: String, ctx: &Context) -> Result<Requeue> {
    let name = cached.name_any();
    let namespace = cached.namespace().unwrap_or_default();
    let apps = Api::<SparkApplication>::namespaced(ctx.client.clone(), &namespace);
    let problem = locate_unreadable(&apps, &name).await.unwrap_or(problem);
    let message = format!(
        "the SparkApplication cannot be read: {problem}; correct that field and apply it again"
    );
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

/// The path of the field that the types cannot read, with serde's reason.
async fn locate_unreadable(apps: &Api<SparkApplication>, name: &str) -> Option<String> {
    let resource = kube::api::ApiResource::erase::<SparkApplication>(&());
    let namespace = apps.namespace()?;
    let raw: Api<kube::api::DynamicObject> =
        Api::namespaced_with(apps.clone().into_client(), namespace, &resource);
    let raw = serde_json::to_value(raw.get(name).await.ok()?).ok()?;
    let error = serde_path_to_error::deserialize::<_, SparkApplication>(raw.clone()).err()?;
    let path = error.path().to_string();
    // serde loses the path inside the driver's and executors' flattened pod fields: look again
    // there with the pod fields' own type.
    let pointer = format!("/{}", path.replace('.', "/"));
    if path.ends_with(".driver") || path.ends_with(".executor") {
        let inner = raw.pointer(&pointer).cloned()?;
        if let Err(inner) =
            serde_path_to_error::deserialize::<_, spark_operator_api::SparkPodSpec>(inner)
        {
            return Some(format!("{path}.{}: {}", inner.path(), inner.inner()));
        }
    }
    Some(format!("{path}: {}", error.inner()))
}
