//! The service account controller: every namespace has a `default` service account, made when
//! the namespace is.

use serde_json::json;

use crate::error::ApiError;
use crate::meta;
use crate::registry::{Cluster, WriteOptions};
use crate::storage::{EventType, StoreEvent};

pub(super) async fn handle(cluster: &Cluster, event: &StoreEvent) {
    let object = &event.object;
    if event.event_type == EventType::Added
        && event.resource == "namespaces"
        && meta::deletion_timestamp(object).is_none()
    {
        let name = meta::name(object);
        if let Err(error) = ensure_default(cluster, name).await {
            tracing::debug!(%error, namespace = name, "no default service account");
        }
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
