//! `pods/NAME/log`: a container's output, its last lines (`tailLines`), or followed as it grows
//! (`follow=true`) until the pod ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;

use crate::error::ApiError;
use crate::registry::Cluster;

/// What a log request asks for.
pub struct LogRequest<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: Option<&'a str>,
    pub tail_lines: Option<i64>,
    pub follow: bool,
}

/// The answer to a log request: plain text, streamed when followed.
pub fn response(cluster: &Cluster, request: &LogRequest) -> Result<Response, ApiError> {
    let log = cluster.pod_log(request.namespace, request.pod, request.container)?;
    let sent = log.len();
    let log = match request.tail_lines {
        Some(tail) => tail_lines(&log, tail.max(0) as usize),
        None => log,
    };
    let text = [(header::CONTENT_TYPE, "text/plain")];
    if !request.follow {
        return Ok((StatusCode::OK, text, log).into_response());
    }
    let follow = FollowedLog {
        cluster: cluster.clone(),
        namespace: request.namespace.to_string(),
        pod: request.pod.to_string(),
        container: request.container.map(str::to_string),
        sent,
    };
    let body = Body::from_stream(follow.stream(log));
    Ok((StatusCode::OK, text, body).into_response())
}

/// A `pods/log?follow=true` stream: what the container printed so far, then what it prints next,
/// until the pod has ended (or is gone) and everything it printed was sent.
struct FollowedLog {
    cluster: Cluster,
    namespace: String,
    pod: String,
    container: Option<String>,
    /// Bytes of the container's output already sent.
    sent: usize,
}

impl FollowedLog {
    const POLL: Duration = Duration::from_millis(200);

    fn stream(
        self,
        first: String,
    ) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
        let head = futures::stream::once(async move { Ok(Bytes::from(first)) });
        let rest = futures::stream::unfold(Some(self), |state| async move {
            let mut state = state?;
            loop {
                tokio::time::sleep(Self::POLL).await;
                let ended = state.ended();
                let log = state
                    .cluster
                    .pod_log(&state.namespace, &state.pod, state.container.as_deref())
                    .unwrap_or_default();
                let new = log.get(state.sent..).unwrap_or_default().to_string();
                state.sent = log.len().max(state.sent);
                if ended {
                    return Some((Ok(Bytes::from(new)), None));
                }
                if !new.is_empty() {
                    return Some((Ok(Bytes::from(new)), Some(state)));
                }
            }
        });
        head.chain(rest)
    }

    fn ended(&self) -> bool {
        let Ok(pods) = self.cluster.resource("v1", "pods") else {
            return true;
        };
        match self.cluster.get(&pods, &self.namespace, &self.pod) {
            Ok(pod) => matches!(
                pod.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            ),
            Err(_) => true,
        }
    }
}

fn tail_lines(log: &str, count: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(count);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_logs() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_lines("a\n", 5), "a\n");
    }
}
