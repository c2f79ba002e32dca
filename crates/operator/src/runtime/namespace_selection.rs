//! Which namespaces' applications the controllers act on: those of `--namespaces`, and, with
//! Kubeflow's `--namespace-selector`, every namespace whose labels match it, found by a watch of
//! the namespaces. The controllers then watch every namespace and each reconcile asks
//! [`NamespaceSelection::selects`] first: an application of a namespace that does not (or no
//! longer) match is left as it is, and looked at again at the resync period, so that a
//! namespace that comes to match has its applications taken up.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use super::readiness::Readiness;

/// `--namespaces` and `--namespace-selector`; cheap to clone.
#[derive(Clone, Default)]
pub struct NamespaceSelection {
    namespaces: Vec<String>,
    selector: Option<Arc<Selecting>>,
}

struct Selecting {
    text: String,
    selector: Selector,
    store: Store<Namespace>,
    /// Taken by the one watch that fills the store.
    writer: Mutex<Option<reflector::store::Writer<Namespace>>>,
}

impl std::fmt::Debug for NamespaceSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceSelection")
            .field("namespaces", &self.namespaces)
            .field("selector", &self.selector.as_ref().map(|s| &s.text))
            .finish()
    }
}

impl NamespaceSelection {
    /// `namespaces` (empty: all) and a label selector string (empty: none), or the reason the
    /// selector cannot be read.
    pub fn new(namespaces: Vec<String>, selector: &str) -> Result<NamespaceSelection, String> {
        if selector.trim().is_empty() {
            return Ok(NamespaceSelection {
                namespaces,
                selector: None,
            });
        }
        let object = crate::cli::webhook::selector_object("--namespace-selector", selector)?;
        let label_selector: LabelSelector = serde_json::from_value(object)
            .map_err(|e| format!("--namespace-selector {selector:?}: {e}"))?;
        let parsed = Selector::try_from(label_selector)
            .map_err(|e| format!("--namespace-selector {selector:?}: {e}"))?;
        let (store, writer) = reflector::store();
        Ok(NamespaceSelection {
            namespaces,
            selector: Some(Arc::new(Selecting {
                text: selector.trim().to_string(),
                selector: parsed,
                store,
                writer: Mutex::new(Some(writer)),
            })),
        })
    }

    pub fn has_selector(&self) -> bool {
        self.selector.is_some()
    }

    /// The namespaces named by `--namespaces` (empty: all, unless a selector narrows them).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Whether the applications of `namespace` are this operator's; with a selector, once the
    /// namespaces have been listed.
    pub async fn selects(&self, namespace: &str) -> bool {
        let Some(selecting) = &self.selector else {
            return true;
        };
        if self.namespaces.iter().any(|n| n == namespace) {
            return true;
        }
        let _ = selecting.store.wait_until_ready().await;
        selecting
            .store
            .get(&ObjectRef::new(namespace))
            .is_some_and(|ns| selecting.selector.matches(ns.labels()))
    }

    /// Keeps the list of namespaces current, until the process stops (without a selector there
    /// is nothing to watch). Its first listing counts towards readiness.
    pub async fn keep_current(&self, client: Client, readiness: Readiness) {
        let writer = self
            .selector
            .as_ref()
            .and_then(|s| s.writer.lock().unwrap_or_else(|p| p.into_inner()).take());
        let (Some(selecting), Some(writer)) = (&self.selector, writer) else {
            return std::future::pending().await;
        };
        let store = selecting.store.clone();
        readiness.track(async move {
            let _ = store.wait_until_ready().await;
        });
        let events = crate::controller::watch_backoff::recovering(
            watcher(Api::<Namespace>::all(client), watcher::Config::default()),
            readiness,
            "namespaces",
        );
        events
            .reflect(writer)
            .applied_objects()
            .for_each(|_| async {})
            .await;
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_selector_every_watched_namespace_is_selected() {
        let selection = NamespaceSelection::new(vec!["a".into()], "").unwrap();
        assert!(!selection.has_selector());
        assert!(selection.selects("anything").await);
    }

    #[test]
    fn a_selector_that_cannot_be_read_names_the_flag() {
        let error = NamespaceSelection::new(vec![], "a b c").unwrap_err();
        assert!(error.contains("--namespace-selector"), "{error}");
        assert!(
            NamespaceSelection::new(vec![], "spark=on,env in (prod,staging)")
                .unwrap()
                .has_selector()
        );
    }
}
