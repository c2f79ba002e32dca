//! Creating and deleting the objects of one submission attempt, idempotently.

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, GetParams, ListParams, PostParams};
use kube::core::Request;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

use crate::error::{Error, Result};
use crate::submission::{LABEL_APP_NAME, LABEL_SUBMISSION_ID};

/// Creates `object` in `namespace` and reads the answer as `R` (the object itself, or a shape of
/// it that holds only what the caller reads: the whole of a pod is never needed here). If an
/// object of that name already exists it is taken as ours when it carries the same submission id
/// (a reconcile that died half-way is resumed), and is an error otherwise, so that a second
/// driver is never created beside a first.
pub async fn create_or_adopt<K, R>(
    client: &Client,
    namespace: &str,
    object: &K,
    submission_id: &str,
) -> Result<R>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Serialize,
    R: Resource + DeserializeOwned,
{
    let requests = Request::new(K::url_path(&(), Some(namespace)));
    let request = |verb: &'static str| {
        move |source| Error::Request {
            request: format!("{verb} {} {namespace}/{}", K::kind(&()), object.name_any()),
            source,
        }
    };
    let create = requests
        .create(&PostParams::default(), serde_json::to_vec(object)?)
        .map_err(kube::Error::BuildRequest)
        .map_err(request("creating"))?;
    match client.request::<R>(create).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let get = requests
                .get(&object.name_any(), &GetParams::default())
                .map_err(kube::Error::BuildRequest)
                .map_err(request("reading"))?;
            let existing: R = client.request(get).await.map_err(request("reading"))?;
            let same_attempt = existing
                .labels()
                .get(LABEL_SUBMISSION_ID)
                .is_some_and(|id| id == submission_id);
            if same_attempt {
                Ok(existing)
            } else {
                Err(Error::ForeignObject {
                    kind: K::kind(&()).to_string(),
                    name: object.name_any(),
                })
            }
        }
        Err(error) => Err(request("creating")(error)),
    }
}

/// Creates the object at `collection` (a namespaced collection's path), leaving one of that name
/// alone: a PodGroup or a PodDisruptionBudget is the application's, not an attempt's, and a
/// retry finds the one the last attempt made. A 404 means the cluster does not serve the kind.
pub async fn create_if_absent(
    client: &Client,
    collection: &str,
    object: &serde_json::Value,
    not_served: impl FnOnce() -> Error,
) -> Result<()> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let request = |source| Error::Request {
        request: format!("creating {kind} {name} at {collection}"),
        source,
    };
    let create = Request::new(collection)
        .create(&PostParams::default(), serde_json::to_vec(object)?)
        .map_err(kube::Error::BuildRequest)
        .map_err(request)?;
    match client.request::<serde_json::Value>(create).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(not_served()),
        Err(error) => Err(request(error)),
    }
}

/// Deletes the object `name` of the collection at `collection`; one that is not there, or whose
/// kind is not served, is already gone.
pub async fn delete_if_present(client: &Client, collection: &str, name: &str) -> Result<()> {
    let delete = Request::new(collection)
        .delete(name, &DeleteParams::background())
        .map_err(kube::Error::BuildRequest)?;
    match client.request::<serde_json::Value>(delete).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(Error::Request {
            request: format!("deleting {collection}/{name}"),
            source: error,
        }),
    }
}

/// Deletes every object of kind `K` labelled with the application's name. Returns how many were
/// still there.
pub async fn delete_labelled<K>(api: &Api<K>, app_name: &str) -> Result<usize>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
{
    let selector = format!("{LABEL_APP_NAME}={app_name}");
    let existing = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await?;
    let mut remaining = 0;
    for object in existing.items {
        if object.metadata.deletion_timestamp.is_some() {
            remaining += 1;
            continue;
        }
        match api
            .delete(&object.name_any(), &DeleteParams::background())
            .await
        {
            Ok(_) => remaining += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(remaining)
}
