//! List and watch, with label and field selectors, pagination, bookmarks and initial events.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Cluster, DEFAULT_WATCH_TIMEOUT};
use crate::error::ApiError;
use crate::kinds::{ResourceType, as_version, convert};
use crate::meta;
use crate::selector::{FieldSelector, LabelSelector};
use crate::storage::{EventType, StoreError, StoreEvent, WatchReceiver};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Start after this resourceVersion; `None`, `""` and `"0"` start with the current objects.
    pub resource_version: Option<String>,
    /// `sendInitialEvents`: whether to start with the current objects (and, with bookmarks, end
    /// them with an `initial-events-end` bookmark).
    pub send_initial_events: Option<bool>,
    pub allow_bookmarks: bool,
    pub timeout: Option<Duration>,
}

/// Label and field selectors of one request.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub(super) fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, ApiError> {
        let labels = labels
            .filter(|s| !s.trim().is_empty())
            .map(LabelSelector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = fields
            .filter(|s| !s.trim().is_empty())
            .map(FieldSelector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Self { labels, fields })
    }

    /// Whether the labels match; labels read the same in every version of an object, so this is
    /// checked on the stored form, before an object is converted.
    pub(super) fn labels_match(&self, object: &Value) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|s| s.matches(&meta::labels(object)))
    }

    /// The labels every selected object carries, for the store's label index.
    pub(super) fn required_labels(&self) -> Vec<(&str, &str)> {
        self.labels
            .as_ref()
            .map(LabelSelector::required_labels)
            .unwrap_or_default()
    }

    /// Whether the filter selects the stored object `stored` as `resource` serves it. Selectors
    /// never read `apiVersion` or `kind`, so the object is converted first only where serving
    /// moves its fields (events.k8s.io Events): the copy a conversion makes is left to the
    /// objects that are sent.
    pub(super) fn selects(&self, resource: &ResourceType, stored: &Value) -> bool {
        if !self.labels_match(stored) {
            return false;
        }
        match &self.fields {
            None => true,
            Some(fields) if convert::is_events_v1(resource) => {
                fields.matches(&as_version(resource, stored))
            }
            Some(fields) => fields.matches(stored),
        }
    }
}

fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let token = json!({"rv": rv, "namespace": namespace, "name": name});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The (namespace, name) a continued list starts after.
fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let part = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(invalid)
    };
    Ok((part("namespace")?, part("name")?))
}

impl Cluster {
    /// A `<Kind>List` of the matching objects, in one namespace or (with `None`) all.
    pub fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<Value, ApiError> {
        let filter = Filter::parse(
            options.label_selector.as_deref(),
            options.field_selector.as_deref(),
        )?;
        let namespace = namespace.filter(|ns| resource.namespaced && !ns.is_empty());
        let (items, rv) =
            self.store()
                .list_labelled(&resource.storage, namespace, &filter.required_labels());
        let start_after = options
            .continue_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(decode_continue)
            .transpose()?;
        let mut matching = items
            .iter()
            .filter(|item| {
                start_after.as_ref().is_none_or(|(ns, name)| {
                    (meta::namespace(item), meta::name(item)) > (ns.as_str(), name.as_str())
                })
            })
            .filter(|item| filter.selects(resource, item))
            .map(|item| as_version(resource, item));
        let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let page: Vec<Value> = matching.by_ref().take(limit).collect();
        let remaining = matching.count();
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if remaining > 0
            && let Some(last) = page.last()
        {
            metadata["continue"] =
                json!(encode_continue(rv, meta::namespace(last), meta::name(last)));
            metadata["remainingItemCount"] = json!(remaining);
        }
        Ok(json!({
            "apiVersion": resource.api_version(),
            "kind": resource.list_kind(),
            "metadata": metadata,
            "items": page,
        }))
    }

    /// A stream of watch events ready to send, ending at the timeout or when the receiver is
    /// dropped.
    pub fn watch(
        &self,
        resource: &Arc<ResourceType>,
        namespace: Option<&str>,
        options: &WatchOptions,
    ) -> Result<ReceiverStream<WatchFrame>, ApiError> {
        let filter = Filter::parse(
            options.label_selector.as_deref(),
            options.field_selector.as_deref(),
        )?;
        let namespace = namespace.filter(|ns| resource.namespaced && !ns.is_empty());
        let qualified = resource.storage.clone();
        let requested = options
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty() && *rv != "0");
        let send_initial = options.send_initial_events.unwrap_or(requested.is_none());
        let (sender, output) = mpsc::channel(64);
        let (initial, start_rv, events) = if send_initial {
            let required = filter.required_labels();
            let (items, rv, events) = self
                .store()
                .list_and_watch(&qualified, namespace, &required);
            (items, rv, events)
        } else {
            let since = match requested {
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {rv:?}"))
                })?),
                None => None,
            };
            match self.store().watch(Some(&qualified), namespace, since) {
                Ok(events) => (
                    Vec::new(),
                    since.unwrap_or_else(|| self.store().resource_version()),
                    events,
                ),
                Err(error @ StoreError::Gone { .. }) => {
                    let status = ApiError::from(error).to_status();
                    // The receiver is ours until returned, so the send cannot fail for lack of room.
                    let _ = sender.try_send(WatchFrame::new("ERROR", status));
                    return Ok(ReceiverStream::new(output));
                }
                Err(error) => return Err(error.into()),
            }
        };
        let session = WatchSession {
            cluster: self.clone(),
            resource: resource.clone(),
            filter,
            sender,
            allow_bookmarks: options.allow_bookmarks,
            last_rv: start_rv,
        };
        let announce_end = send_initial && options.send_initial_events == Some(true);
        let timeout = options.timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT);
        tokio::spawn(session.run(initial, announce_end, events, timeout));
        Ok(ReceiverStream::new(output))
    }
}

/// One watch event, its fields in the order the API server writes them: `type` first. Clients
/// that decode an event as a type-tagged value (kube-rs, client-go) read the object straight into
/// its type only when the tag comes first; otherwise they buffer the whole object.
#[derive(Debug, serde::Serialize)]
pub struct WatchFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub object: Value,
}

impl WatchFrame {
    fn new(kind: &'static str, object: Value) -> Self {
        Self { kind, object }
    }
}

struct WatchSession {
    cluster: Cluster,
    resource: Arc<ResourceType>,
    filter: Filter,
    sender: mpsc::Sender<WatchFrame>,
    allow_bookmarks: bool,
    last_rv: u64,
}

impl WatchSession {
    async fn run(
        mut self,
        initial: Vec<Arc<Value>>,
        announce_end: bool,
        mut events: WatchReceiver,
        timeout: Duration,
    ) {
        for item in initial
            .iter()
            .filter(|item| self.filter.selects(&self.resource, item))
            .map(|item| as_version(&self.resource, item))
        {
            if self
                .sender
                .send(WatchFrame::new("ADDED", item))
                .await
                .is_err()
            {
                return;
            }
        }
        if announce_end && self.allow_bookmarks && !self.bookmark(true).await {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            tokio::select! {
                _ = &mut deadline => {
                    if self.allow_bookmarks {
                        let current = self.cluster.store().resource_version();
                        if self.drain(&mut events).await {
                            self.last_rv = self.last_rv.max(current);
                            self.bookmark(false).await;
                        }
                    }
                    return;
                }
                _ = self.sender.closed() => return,
                event = events.recv() => {
                    let Some(event) = event else { return };
                    if !self.deliver(&event).await {
                        return;
                    }
                }
                _ = ticker.tick(), if self.allow_bookmarks => {
                    // Everything up to `current` is already in `events`: writes notify watchers
                    // under the store lock that also guards the counter.
                    let current = self.cluster.store().resource_version();
                    if !self.drain(&mut events).await {
                        return;
                    }
                    self.last_rv = self.last_rv.max(current);
                    if !self.bookmark(false).await {
                        return;
                    }
                }
            }
        }
    }

    /// Sends every event already queued; false once the client is gone.
    async fn drain(&mut self, events: &mut WatchReceiver) -> bool {
        while let Ok(event) = events.try_recv() {
            if !self.deliver(&event).await {
                return false;
            }
        }
        true
    }

    async fn deliver(&mut self, event: &StoreEvent) -> bool {
        self.last_rv = self.last_rv.max(event.resource_version());
        match translate(&self.resource, event, &self.filter) {
            Some((kind, object)) => self
                .sender
                .send(WatchFrame::new(kind, object))
                .await
                .is_ok(),
            None => true,
        }
    }

    async fn bookmark(&self, initial_events_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(), "metadata": metadata});
        self.sender
            .send(WatchFrame::new("BOOKMARK", object))
            .await
            .is_ok()
    }
}

/// The event a filtered watcher sees for a store event: objects entering the selection are
/// ADDED, objects leaving it DELETED, others not shown.
pub(super) fn translate(
    resource: &ResourceType,
    event: &StoreEvent,
    filter: &Filter,
) -> Option<(&'static str, Value)> {
    let now = filter.selects(resource, &event.object);
    let kind = match event.event_type {
        EventType::Added | EventType::Deleted => now.then(|| event.event_type.as_str()),
        EventType::Modified => {
            let before = event
                .previous
                .as_ref()
                .is_some_and(|p| filter.selects(resource, p));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    };
    kind.map(|kind| (kind, as_version(resource, &event.object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = encode_continue(12, "ns", "b");
        assert_eq!(
            decode_continue(&token).unwrap(),
            ("ns".to_string(), "b".to_string())
        );
        assert_eq!(decode_continue("garbage!").unwrap_err().code, 400);
    }

    #[test]
    fn selectors_read_the_object_as_it_is_served() {
        let kinds = crate::kinds::Kinds::with_builtins();
        let events_v1 = kinds.lookup("events.k8s.io", "v1", "events").unwrap();
        let core_events = kinds.lookup("", "v1", "events").unwrap();
        // Stored in the core shape: events.k8s.io serves `involvedObject` as `regarding`.
        let stored = json!({"metadata": {"name": "e", "labels": {"a": "b"}},
                            "involvedObject": {"kind": "Pod", "name": "p"}});
        let regarding = Filter::parse(None, Some("regarding.name=p")).unwrap();
        assert!(regarding.selects(&events_v1, &stored));
        assert!(!regarding.selects(&core_events, &stored));
        let involved = Filter::parse(Some("a=b"), Some("involvedObject.name=p")).unwrap();
        assert!(involved.selects(&core_events, &stored));
        assert!(
            !Filter::parse(Some("a=c"), None)
                .unwrap()
                .selects(&core_events, &stored)
        );
    }

    #[test]
    fn unfiltered_events_pass_through() {
        let event = StoreEvent {
            event_type: EventType::Modified,
            resource: "pods".into(),
            object: Arc::new(json!({"metadata": {"name": "a"}})),
            previous: Some(Arc::new(json!({"metadata": {"name": "a"}}))),
        };
        let pods = crate::kinds::Kinds::with_builtins()
            .lookup("", "v1", "pods")
            .unwrap();
        assert_eq!(
            translate(&pods, &event, &Filter::default()).map(|(kind, _)| kind),
            Some("MODIFIED")
        );
    }
}
