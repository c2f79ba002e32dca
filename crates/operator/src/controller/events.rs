//! Kubernetes Events about applications, with Kubeflow's reasons.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use spark_operator_api::SparkApplication;
use tracing::warn;

/// Publishes events; a failure to record one is logged, never fails a reconcile.
#[derive(Clone)]
pub struct EventPublisher {
    recorder: std::sync::Arc<Recorder>,
}

impl EventPublisher {
    pub fn new(client: Client, reporter: &str) -> Self {
        let reporter = Reporter {
            controller: reporter.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: std::sync::Arc::new(Recorder::new(client, reporter)),
        }
    }

    pub async fn publish(
        &self,
        app: &SparkApplication,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        self.publish_on(&app.object_ref(&()), warning, reason, message)
            .await;
    }

    /// Publishes an event about the object `reference` points at.
    pub async fn publish_on(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(message),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, reference).await {
            warn!(%error, reason, "could not record event");
        }
    }
}
