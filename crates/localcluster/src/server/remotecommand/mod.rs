//! `pods/{name}/exec` and `pods/{name}/attach` over WebSockets, the `channel.k8s.io` protocols
//! kubectl, client-go, kube-rs and the Python client speak. The API server's checks come first,
//! as plain HTTP errors (the pod, the container, a node assigned, the streams asked for); then
//! the subprotocol is chosen ([`protocol`]) and the container is looked up among those a runtime
//! runs ([`crate::streaming`]), standing for the kubelet; [`session`] relays the streams.
//!
//! Only WebSockets are served: SPDY (`Upgrade: SPDY/3.1`, kubectl's fallback when a WebSocket
//! upgrade fails) is refused, which kubectl since 1.30 never reaches.

mod protocol;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::channel;
use crate::error::ApiError;
use crate::registry::Cluster;
use protocol::{Outcome, Streams};
use session::Talk;

/// Which of the two subresources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Exec,
    Attach,
}

/// One exec or attach request: the pod, and the query's pairs in order (`command` repeats).
pub struct Request<'a> {
    pub action: Action,
    pub namespace: &'a str,
    pub name: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

impl Request<'_> {
    fn last(&self, key: &str) -> Option<String> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

pub fn serve(
    cluster: &Cluster,
    request: &Request<'_>,
    websocket: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let pods = cluster.resource("v1", "pods")?;
    let pod = cluster.get(&pods, request.namespace, request.name)?;
    let container = container_of(&pod, request.last("container").as_deref())?;
    if pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            request.name
        )));
    }
    let streams = Streams::from_query(|key| request.last(key)).map_err(ApiError::bad_request)?;
    let Some(websocket) = websocket else {
        return Err(ApiError::bad_request(
            "exec and attach are served over WebSockets only (v5.channel.k8s.io, \
             v4.channel.k8s.io, channel.k8s.io, base64.channel.k8s.io); this server has no SPDY \
             for them",
        ));
    };
    let protocol = match protocol::choose(&channel::offered(request.headers)) {
        Ok(protocol) => protocol,
        Err(refusal) => return Ok(text(StatusCode::FORBIDDEN, refusal)),
    };
    let talk = Talk { protocol, streams };
    let websocket = match protocol.name {
        "" => websocket,
        name => websocket.protocols([name]),
    };
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let running = cluster
        .running_containers()
        .find((request.namespace, request.name, uid), &container);
    let Some(running) = running else {
        let refusal = protocol::container_not_found(&container);
        if !protocol.by_api_server {
            // The kubelet's answer, which the API server's proxy passes on.
            return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, refusal));
        }
        let outcome = Outcome::Refused(refusal);
        return Ok(websocket
            .on_upgrade(move |socket| session::report(socket, talk, outcome))
            .into_response());
    };
    let response = match request.action {
        Action::Attach => {
            let (output, stdin) = (running.output(), running.stdin());
            websocket.on_upgrade(move |socket| session::attach(socket, talk, output, stdin))
        }
        Action::Exec => {
            let command: Vec<String> = request
                .query
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect();
            match running.exec(&command) {
                Ok(child) => {
                    websocket.on_upgrade(move |socket| session::exec(socket, talk, child, command))
                }
                Err(error) => {
                    let exec_id = uuid::Uuid::new_v4().simple().to_string();
                    let why = protocol::start_failure(&command, &error, &exec_id);
                    websocket.on_upgrade(move |socket| {
                        session::report(socket, talk, Outcome::Failed(why))
                    })
                }
            }
        }
    };
    Ok(response.into_response())
}

/// The container a request names, or the pod's only one, checked as the API server checks it.
fn container_of(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let of = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = of("containers");
    let all: Vec<String> = [
        of("initContainers"),
        containers.clone(),
        of("ephemeralContainers"),
    ]
    .concat();
    match (asked.filter(|a| !a.is_empty()), containers.as_slice()) {
        (Some(asked), _) if all.iter().any(|c| c == asked) => Ok(asked.to_string()),
        (Some(asked), _) => Err(ApiError::bad_request(format!(
            "container {asked} is not valid for pod {name}"
        ))),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        (None, _) => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// A plain-text answer, as the kubelet and Go's WebSocket server write their refusals.
fn text(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_named_or_the_only_one() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "main"}, {"name": "side"}]}});
        assert_eq!(container_of(&pod, Some("side")).unwrap(), "side");
        assert_eq!(container_of(&pod, Some("setup")).unwrap(), "setup");
        assert_eq!(
            container_of(&pod, None).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [setup main side]"
        );
        assert_eq!(
            container_of(&pod, Some("nope")).unwrap_err().message,
            "container nope is not valid for pod web"
        );
        let single = json!({"metadata": {"name": "one"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(container_of(&single, None).unwrap(), "c");
    }
}
