//! The service account controller: every namespace has a `default` service account, made when
//! the namespace is and made again when it is deleted (pods that name no service account need
//! it: the ServiceAccount admission plugin refuses them without it).

use serde_json::json;

use crate::error::ApiError;
use crate::meta;
use crate::registry::{Cluster, WriteOptions};
use crate::storage::{EventType, StoreEvent};

pub(super) async fn handle(cluster: &Cluster, event: &StoreEvent) {
    let object = &event.object;
    let namespace = match (event.event_type, event.resource.as_str()) {
        (EventType::Added, "namespaces") if meta::deletion_timestamp(object).is_none() => {
            meta::name(object)
        }
        (EventType::Deleted, "serviceaccounts") if meta::name(object) == "default" => {
            meta::namespace(object)
        }
        _ => return,
    };
    if let Err(error) = ensure_default(cluster, namespace).await {
        tracing::debug!(%error, namespace, "no default service account");
    }
}

/// Creates the `default` service account of `namespace` unless it exists.
pub(super) async fn ensure_default(cluster: &Cluster, namespace: &str) -> Result<(), ApiError> {
    let accounts = cluster.resource("v1", "serviceaccounts")?;
    if cluster.get(&accounts, namespace, "default").is_ok() {
        return Ok(());
    }
    let account =
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
    match cluster
        .create(&accounts, namespace, account, &WriteOptions::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}
