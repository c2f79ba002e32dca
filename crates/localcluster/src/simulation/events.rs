//! Events about pods, as the scheduler and kubelets record them (`FailedScheduling`,
//! `FailedMount`, `Failed`, `BackOff`, ...), so that `kubectl describe pod` and the operator read
//! why a pod waits. A repeated event (same pod, reason and message) updates the first one's
//! `count` and `lastTimestamp`, as client-go's event recorder aggregates them.
//!
//! Only the events that explain a pod that does not run are recorded; the `Scheduled`, `Pulled`,
//! `Created` and `Started` events of every healthy pod are not, which would double the writes of
//! a pod's life.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tracing::debug;

use super::now;

/// Who records an event.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Scheduler,
    /// The kubelet of a node.
    Kubelet(&'a str),
}

/// One event to record about a pod.
#[derive(Debug, Clone)]
pub struct PodEvent<'a> {
    pub warning: bool,
    pub reason: &'a str,
    pub message: String,
    /// `spec.containers{name}` when the event is about one container.
    pub field_path: Option<String>,
}

/// An event's identity: pod uid, reason and message.
type EventKey = (String, String, String);

/// Remembers the events already recorded, to aggregate repeats.
#[derive(Default)]
pub struct Recorder {
    /// What was recorded: the event's name and count.
    seen: Mutex<HashMap<EventKey, (String, i64)>>,
}

impl Recorder {
    pub async fn record(
        &self,
        client: &Client,
        pod: &Value,
        source: Source<'_>,
        event: PodEvent<'_>,
    ) {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(client.clone(), namespace);
        let (component, host) = match source {
            Source::Scheduler => ("default-scheduler", ""),
            Source::Kubelet(node) => ("kubelet", node),
        };
        let key = (
            uid.to_string(),
            event.reason.to_string(),
            event.message.clone(),
        );
        let repeat = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.get_mut(&key).map(|(event_name, count)| {
                *count += 1;
                (event_name.clone(), *count)
            })
        };
        let params = PatchParams {
            field_manager: Some(component.into()),
            ..PatchParams::default()
        };
        if let Some((event_name, count)) = repeat {
            let change = json!({"count": count, "lastTimestamp": now()});
            if let Err(error) = api
                .patch(&event_name, &params, &Patch::Merge(&change))
                .await
            {
                debug!(%error, pod = name, "could not update an event");
            }
            return;
        }
        let stamp = jiff::Timestamp::now().as_nanosecond();
        let event_name = format!("{name}.{stamp:x}");
        let mut involved = json!({"kind": "Pod", "apiVersion": "v1", "namespace": namespace,
            "name": name, "uid": uid});
        if let Some(path) = &event.field_path {
            involved["fieldPath"] = json!(path);
        }
        let mut source_field = json!({"component": component});
        if !host.is_empty() {
            source_field["host"] = json!(host);
        }
        let body = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": involved,
            "reason": event.reason,
            "message": event.message,
            "type": if event.warning { "Warning" } else { "Normal" },
            "source": source_field,
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": if host.is_empty() { component } else { host },
        });
        let Ok(body) = serde_json::from_value::<Event>(body) else {
            return;
        };
        let post = PostParams {
            field_manager: Some(component.into()),
            ..PostParams::default()
        };
        match api.create(&post, &body).await {
            Ok(_) => {
                self.seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (event_name, 1));
            }
            Err(error) => debug!(%error, pod = name, "could not record an event"),
        }
    }

    /// Forgets the events of a pod that is gone.
    pub fn forget(&self, uid: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(pod, _, _), _| pod != uid);
    }
}
