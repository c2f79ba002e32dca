//! Which objects carry a label, per resource: what lets a list or watch with a label selector
//! (`spark-app-selector=...,spark-role=executor`, asked by every Spark driver and by the operator)
//! read only the objects that can match instead of every object of the namespace. Without it a
//! namespace of 20,000 applications answers each driver's list by scanning all of its pods, and
//! the cluster's work grows with the square of the applications.
//!
//! The index only narrows: the caller still evaluates the whole selector on each candidate. It is
//! kept by [`super::Store`] under the same lock as the objects, on every write and on replay.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// (namespace, name) of an object, the order a list answers in.
type Place = (String, String);

/// resource -> (label key, label value) -> objects that carry it.
#[derive(Debug, Default)]
pub(super) struct LabelIndex {
    resources: HashMap<String, HashMap<(String, String), BTreeSet<Place>>>,
}

/// The string labels of an object (a label of another type is refused at admission; one here is
/// ignored, as selectors ignore it).
fn labels(object: &Value) -> impl Iterator<Item = (&str, &str)> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| value.as_str().map(|value| (key.as_str(), value)))
}

impl LabelIndex {
    /// Records `object`'s labels at `place`, forgetting those of `previous` (the object it
    /// replaces there, if any).
    pub(super) fn replace(
        &mut self,
        resource: &str,
        place: &Place,
        previous: Option<&Value>,
        object: Option<&Value>,
    ) {
        if let Some(previous) = previous {
            self.remove(resource, place, previous);
        }
        if let Some(object) = object {
            let index = self.resources.entry(resource.to_string()).or_default();
            for (key, value) in labels(object) {
                index
                    .entry((key.to_string(), value.to_string()))
                    .or_default()
                    .insert(place.clone());
            }
        }
    }

    fn remove(&mut self, resource: &str, place: &Place, object: &Value) {
        let Some(index) = self.resources.get_mut(resource) else {
            return;
        };
        for (key, value) in labels(object) {
            let label = (key.to_string(), value.to_string());
            if let Some(places) = index.get_mut(&label) {
                places.remove(place);
                if places.is_empty() {
                    index.remove(&label);
                }
            }
        }
        if index.is_empty() {
            self.resources.remove(resource);
        }
    }

    /// The places of `resource`'s objects in `namespace` (or all) that carry every label of
    /// `required`, in list order; `None` when `required` is empty (nothing to narrow by).
    pub(super) fn places(
        &self,
        resource: &str,
        namespace: Option<&str>,
        required: &[(&str, &str)],
    ) -> Option<Vec<Place>> {
        let index = self.resources.get(resource);
        let carrying = |(key, value): &(&str, &str)| {
            index.and_then(|index| index.get(&(key.to_string(), value.to_string())))
        };
        let mut sets = required.iter().map(carrying).collect::<Option<Vec<_>>>();
        let Some(sets) = sets.as_mut() else {
            // Some required label is carried by no object.
            return (!required.is_empty()).then(Vec::new);
        };
        sets.sort_by_key(|set| set.len());
        let (smallest, others) = sets.split_first()?;
        let in_namespace = |place: &&Place| namespace.is_none_or(|ns| place.0 == ns);
        Some(
            smallest
                .iter()
                .filter(in_namespace)
                .filter(|place| others.iter().all(|set| set.contains(*place)))
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn place(ns: &str, name: &str) -> Place {
        (ns.to_string(), name.to_string())
    }

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn narrows_to_objects_carrying_every_required_label_in_list_order() {
        let mut index = LabelIndex::default();
        let driver = pod(json!({"app": "a", "role": "driver"}));
        let executor = pod(json!({"app": "a", "role": "executor"}));
        index.replace("pods", &place("ns", "b-exec"), None, Some(&executor));
        index.replace("pods", &place("ns", "a-driver"), None, Some(&driver));
        index.replace("pods", &place("other", "c-exec"), None, Some(&executor));

        let app_a = index.places("pods", Some("ns"), &[("app", "a")]);
        assert_eq!(
            app_a,
            Some(vec![place("ns", "a-driver"), place("ns", "b-exec")])
        );
        let executors = index.places("pods", None, &[("role", "executor"), ("app", "a")]);
        assert_eq!(
            executors,
            Some(vec![place("ns", "b-exec"), place("other", "c-exec")])
        );
        assert_eq!(index.places("pods", None, &[("app", "z")]), Some(vec![]));
        assert_eq!(
            index.places("services", None, &[("app", "a")]),
            Some(vec![])
        );
        assert_eq!(index.places("pods", None, &[]), None);
    }

    #[test]
    fn relabelling_and_deleting_forget_the_old_labels() {
        let mut index = LabelIndex::default();
        let at = place("ns", "p");
        let before = pod(json!({"phase": "pending"}));
        let after = pod(json!({"phase": "running"}));
        index.replace("pods", &at, None, Some(&before));
        index.replace("pods", &at, Some(&before), Some(&after));
        assert_eq!(
            index.places("pods", None, &[("phase", "pending")]),
            Some(vec![])
        );
        assert_eq!(
            index.places("pods", None, &[("phase", "running")]),
            Some(vec![at.clone()])
        );
        index.replace("pods", &at, Some(&after), None);
        assert!(index.resources.is_empty());
    }
}
