use serde_json::json;

use super::*;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"x": 1}})
}

/// An object of a kind that tracks its generation (the registry sets the first one).
fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "generation": 1}, "spec": {"x": 1}})
}

#[test]
fn create_fills_metadata_and_rejects_duplicates() {
    let store = Store::open(StoreOptions::default()).unwrap();
    let created = store.create("pods", "default", pod("a")).unwrap();
    assert_eq!(meta::namespace(&created), "default");
    assert!(!meta::uid(&created).is_empty());
    assert_eq!(meta::resource_version(&created), 1);
    assert!(created["metadata"].get("generation").is_none());
    assert!(matches!(
        store.create("pods", "default", pod("a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let generated = store
        .create(
            "pods",
            "default",
            json!({"metadata": {"generateName": "web-"}}),
        )
        .unwrap();
    assert!(meta::name(&generated).starts_with("web-"));
    assert_eq!(meta::name(&generated).len(), "web-".len() + 5);
}

#[test]
fn update_checks_resource_version_and_bumps_generation_on_spec_only() {
    let store = Store::open(StoreOptions::default()).unwrap();
    let created = store
        .create("deployments.apps", "ns", deployment("a"))
        .unwrap();
    let key = ObjectKey::new("deployments.apps", "ns", "a");
    let mut changed = Value::clone(&created);
    changed["status"] = json!({"phase": "Running"});
    let updated = store.update(&key, changed.clone(), Some(1)).unwrap();
    assert_eq!(meta::resource_version(&updated), 2);
    assert_eq!(updated["metadata"]["generation"], 1);
    assert!(matches!(
        store.update(&key, changed.clone(), Some(1)),
        Err(StoreError::Conflict { .. })
    ));
    changed["spec"]["x"] = json!(2);
    let respec = store.update(&key, changed, None).unwrap();
    assert_eq!(respec["metadata"]["generation"], 2);
    assert_eq!(meta::uid(&respec), meta::uid(&created));
    // Writing the same object again changes nothing.
    let same = store.update(&key, Value::clone(&respec), None).unwrap();
    assert_eq!(
        meta::resource_version(&same),
        meta::resource_version(&respec)
    );
    assert_eq!(store.resource_version(), 3);
    // Objects without a generation get none, whatever changes.
    let pod = store.create("pods", "ns", pod("p")).unwrap();
    let mut respec = Value::clone(&pod);
    respec["spec"]["x"] = json!(3);
    respec["metadata"]["generation"] = json!(9);
    let updated = store
        .update(&ObjectKey::new("pods", "ns", "p"), respec, None)
        .unwrap();
    assert!(updated["metadata"].get("generation").is_none());
}

#[test]
fn delete_honours_preconditions() {
    let store = Store::open(StoreOptions::default()).unwrap();
    store.create("pods", "ns", pod("a")).unwrap();
    let key = ObjectKey::new("pods", "ns", "a");
    let wrong = Preconditions {
        uid: Some("nope".into()),
        resource_version: None,
    };
    assert!(matches!(
        store.delete(&key, &wrong),
        Err(StoreError::Conflict { .. })
    ));
    let deleted = store.delete(&key, &Preconditions::default()).unwrap();
    assert_eq!(meta::resource_version(&deleted), 2);
    assert!(store.get(&key).is_none());
    assert!(matches!(
        store.delete(&key, &Preconditions::default()),
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn watch_replays_history_and_expires_old_versions() {
    let store = Store::open(StoreOptions {
        data_dir: None,
        history: 3,
    })
    .unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        store.create("pods", "ns", pod(name)).unwrap();
    }
    assert!(matches!(
        store.watch(Some("pods"), None, Some(1)),
        Err(StoreError::Gone { .. })
    ));
    let mut events = store.watch(Some("pods"), Some("ns"), Some(3)).unwrap();
    let names: Vec<String> = [events.recv().await.unwrap(), events.recv().await.unwrap()]
        .iter()
        .map(|e| meta::name(&e.object).to_string())
        .collect();
    assert_eq!(names, ["d", "e"]);
    store.create("configmaps", "ns", pod("other")).unwrap();
    store.create("pods", "elsewhere", pod("f")).unwrap();
    store
        .delete(
            &ObjectKey::new("pods", "ns", "a"),
            &Preconditions::default(),
        )
        .unwrap();
    let deleted = events.recv().await.unwrap();
    assert_eq!(deleted.event_type, EventType::Deleted);
    assert_eq!(meta::name(&deleted.object), "a");
    assert_eq!(deleted.resource_version(), 8);
}

#[test]
fn objects_and_versions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        data_dir: Some(dir.path().to_path_buf()),
        history: 100,
    };
    {
        let store = Store::open(options.clone()).unwrap();
        store.create("pods", "ns", pod("a")).unwrap();
        store.create("pods", "ns", pod("b")).unwrap();
        store
            .delete(
                &ObjectKey::new("pods", "ns", "a"),
                &Preconditions::default(),
            )
            .unwrap();
    }
    let store = Store::open(options.clone()).unwrap();
    assert_eq!(store.resource_version(), 3);
    let (items, _) = store.list("pods", None);
    assert_eq!(items.len(), 1);
    assert_eq!(meta::name(&items[0]), "b");
    let created = store.create("pods", "ns", pod("c")).unwrap();
    assert_eq!(meta::resource_version(&created), 4);
    // Watches from before the restart cannot be served.
    assert!(matches!(
        store.watch(None, None, Some(2)),
        Err(StoreError::Gone { .. })
    ));
    drop(store);
    assert_eq!(Store::open(options).unwrap().resource_version(), 4);
}

#[test]
fn labelled_lists_follow_writes_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        data_dir: Some(dir.path().to_path_buf()),
        history: 100,
    };
    let labelled = |name: &str, role: &str| {
        let mut object = pod(name);
        object["metadata"]["labels"] = json!({"app": "x", "role": role});
        object
    };
    let names = |store: &Store, required: &[(&str, &str)]| {
        let (items, _) = store.list_labelled("pods", Some("ns"), required);
        items
            .iter()
            .map(|o| meta::name(o).to_string())
            .collect::<Vec<_>>()
    };
    {
        let store = Store::open(options.clone()).unwrap();
        store
            .create("pods", "ns", labelled("b", "executor"))
            .unwrap();
        store.create("pods", "ns", labelled("a", "driver")).unwrap();
        let c = store
            .create("pods", "ns", labelled("c", "executor"))
            .unwrap();
        store
            .create("pods", "other", labelled("d", "executor"))
            .unwrap();
        let mut relabelled = Value::clone(&c);
        relabelled["metadata"]["labels"]["role"] = json!("driver");
        store
            .update(&ObjectKey::new("pods", "ns", "c"), relabelled, None)
            .unwrap();
        assert_eq!(names(&store, &[("role", "executor")]), ["b"]);
        assert_eq!(
            names(&store, &[("app", "x"), ("role", "driver")]),
            ["a", "c"]
        );
        assert_eq!(names(&store, &[]), ["a", "b", "c"]);
    }
    let store = Store::open(options).unwrap();
    assert_eq!(names(&store, &[("role", "driver")]), ["a", "c"]);
    store
        .delete(
            &ObjectKey::new("pods", "ns", "a"),
            &Preconditions::default(),
        )
        .unwrap();
    assert_eq!(names(&store, &[("role", "driver")]), ["c"]);
}
