//! A kube-runtime Controller with `.owns()` and kube's finalizer helper, running against the
//! local cluster: the reconciler keeps a Secret per ConfigMap, recreates it when it is deleted
//! (an owned-object event), and cleans up through a finalizer when the ConfigMap goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use testkit::{cluster, eventually};

const FINALIZER: &str = "example.com/cleanup";

struct Context {
    client: Client,
    cleanups: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(
    map: Arc<ConfigMap>,
    context: Arc<Context>,
) -> Result<Action, kube::runtime::finalizer::Error<ReconcileError>> {
    let namespace = map.namespace().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(context.client.clone(), &namespace);
    finalizer(&maps, FINALIZER, map, |event| async {
        match event {
            Event::Apply(map) => {
                let secrets: Api<Secret> = Api::namespaced(context.client.clone(), &namespace);
                let owner = map.controller_owner_ref(&()).expect("stored objects have a uid");
                let secret = json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{}-secret", map.name_any()), "ownerReferences": [owner]},
                    "stringData": {"copied": map.data.clone().unwrap_or_default().get("k").cloned().unwrap_or_default()},
                });
                let params = PatchParams::apply("example-controller").force();
                secrets.patch(&format!("{}-secret", map.name_any()), &params, &Patch::Apply(&secret)).await?;
                Ok(Action::requeue(Duration::from_secs(300)))
            }
            Event::Cleanup(_) => {
                context.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
}

fn error_policy(
    _: Arc<ConfigMap>,
    e: &kube::runtime::finalizer::Error<ReconcileError>,
    _: Arc<Context>,
) -> Action {
    eprintln!("reconcile failed: {e:?}");
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn controller_with_owned_objects_and_finalizer() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let context = Arc::new(Context {
        client: client.clone(),
        cleanups: AtomicUsize::new(0),
    });
    let controller = Controller::new(maps.clone(), watcher::Config::default())
        .owns(secrets.clone(), watcher::Config::default())
        .run(reconcile, error_policy, context.clone())
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"k": "v1"}}))
            .unwrap();
    maps.create(&PostParams::default(), &map).await.unwrap();
    let secret = eventually(10, || async {
        secrets.get_opt("settings-secret").await.unwrap()
    })
    .await;
    assert_eq!(secret.owner_references()[0].name, "settings");
    let with_finalizer = maps.get("settings").await.unwrap();
    assert_eq!(with_finalizer.finalizers(), [FINALIZER.to_string()]);

    // Deleting the owned Secret wakes the owner's reconciliation, which puts it back.
    let old_uid = secret.uid();
    secrets
        .delete("settings-secret", &Default::default())
        .await
        .unwrap();
    eventually(10, || async {
        let again = secrets.get_opt("settings-secret").await.unwrap()?;
        (again.uid() != old_uid).then_some(())
    })
    .await;

    // Deleting the ConfigMap runs the cleanup, drops the finalizer, and the Secret follows its
    // owner through garbage collection.
    maps.delete("settings", &Default::default()).await.unwrap();
    eventually(10, || async {
        maps.get_opt("settings")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(context.cleanups.load(Ordering::SeqCst), 1);
    eventually(10, || async {
        secrets
            .get_opt("settings-secret")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    running.abort();
    cluster.shutdown().await;
}
