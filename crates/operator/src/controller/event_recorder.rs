//! Kubernetes Events about applications, with Kubeflow's reasons, recorded off the reconcile
//! path: a reconcile queues an event and goes on; a background task creates the Event objects.
//! Each event is its own object (no aggregation into series), so recording costs the same with
//! ten applications or ten thousand.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::{ObjectMeta, PostParams};
use kube::core::Request;
use kube::{Client, Resource};
use spark_operator_api::SparkApplication;
use tokio::sync::mpsc;
use tracing::warn;

/// Events waiting to be recorded; beyond this a burst drops events rather than slow reconciles.
const QUEUE: usize = 10_000;
/// Events recorded at once.
const CONCURRENCY: usize = 8;

/// Publishes events; a failure to record one is logged, never fails a reconcile.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<Event>,
    reporter: String,
    instance: Option<String>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl EventPublisher {
    /// Starts the task that records the events; it ends when every publisher is dropped.
    pub fn new(client: Client, reporter: &str) -> Self {
        let (queue, pending) = mpsc::channel::<Event>(QUEUE);
        let stream = futures::stream::unfold(pending, |mut pending| async move {
            pending.recv().await.map(|event| (event, pending))
        });
        tokio::spawn(stream.for_each_concurrent(CONCURRENCY, move |event| {
            let client = client.clone();
            async move {
                if let Err(error) = record(&client, &event).await {
                    warn!(%error, reason = event.reason.as_deref().unwrap_or_default(), "could not record event");
                }
            }
        }));
        Self {
            queue,
            reporter: reporter.to_string(),
            instance: std::env::var("POD_NAME").ok(),
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

    /// Queues an event about the object `reference` points at.
    pub async fn publish_on(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let now = jiff::Timestamp::now();
        let object = reference.name.clone().unwrap_or_default();
        let unique =
            (now.as_nanosecond() as u64).wrapping_add(SEQUENCE.fetch_add(1, Ordering::Relaxed));
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{unique:x}")),
                namespace: reference.namespace.clone(),
                ..Default::default()
            },
            involved_object: reference.clone(),
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            action: Some(reason.to_string()),
            source: Some(EventSource {
                component: Some(self.reporter.clone()),
                host: None,
            }),
            reporting_component: Some(self.reporter.clone()),
            reporting_instance: Some(
                self.instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.clone()),
            ),
            ..Default::default()
        };
        if self.queue.try_send(event).is_err() {
            warn!(reason, object, "event queue full; event dropped");
        }
    }
}

/// Creates `event`; the answer (the event again) is not read.
async fn record(client: &Client, event: &Event) -> kube::Result<()> {
    let namespace = event.metadata.namespace.as_deref();
    let create = Request::new(Event::url_path(&(), namespace))
        .create(
            &PostParams::default(),
            serde_json::to_vec(event).map_err(kube::Error::SerdeError)?,
        )
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(create).await?;
    Ok(())
}
