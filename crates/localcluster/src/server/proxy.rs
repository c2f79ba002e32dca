//! The `proxy` subresources: `/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH` and
//! `/api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH` forward an HTTP request to a pod, as the
//! API server does, so that what a pod serves (a Spark driver's UI) is reachable through
//! `kubectl proxy` or an API client, as on a real cluster. `NAME` may be `NAME:PORT` (a Service
//! port's number or name, a pod's port number) or `SCHEME:NAME:PORT` (only `http` is served).
//!
//! A Service is resolved through its stored Endpoints (the endpoints controller's, or its user's),
//! or, before they are written, the running pods its selector selects, on the port its
//! `targetPort` names; none gives `503 no endpoints available for service "NAME"`. A pod is reached at its pod
//! IP, which here is a loopback address (the real API server refuses to proxy to loopback).
//! Links in HTML pages and `Location` headers are rewritten to stay behind the proxy (`rewrite`).
//! WebSocket upgrades are not relayed.

mod rewrite;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::path::ResourcePath;
use crate::endpoints;
use crate::error::ApiError;
use crate::registry::Cluster;
use crate::storage::ObjectKey;

/// Headers that belong to one connection, not forwarded either way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `name`, `name:port` or `scheme:name:port`.
fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    let scheme_ok = matches!(scheme, "" | "http" | "https");
    (scheme_ok && !name.is_empty()).then_some((scheme, name, port))
}

/// The pod or Service `id` (`name`, `name:port`, `scheme:name:port`) addresses, and the port.
fn addressed<'a>(
    cluster: &Cluster,
    plural: &str,
    namespace: &str,
    id: &'a str,
) -> Result<(Arc<Value>, &'a str), ApiError> {
    let invalid = || {
        let kind = plural.trim_end_matches('s');
        ApiError::bad_request(format!("invalid {kind} request \"{id}\""))
    };
    let (_, name, port) = split_scheme_name_port(id).ok_or_else(invalid)?;
    let object = cluster
        .store()
        .get(&ObjectKey::new(plural, namespace, name))
        .ok_or_else(|| ApiError::not_found(plural, name))?;
    Ok((object, port))
}

fn ip_port(ip: &str, port: u16) -> Result<SocketAddr, ApiError> {
    format!("{ip}:{port}")
        .parse()
        .map_err(|_| ApiError::bad_request("address not allowed"))
}

/// Where a pod request goes: the pod's IP, on the port given or its first container port (80
/// without one).
fn pod_target(cluster: &Cluster, namespace: &str, id: &str) -> Result<SocketAddr, ApiError> {
    let (pod, port) = addressed(cluster, "pods", namespace, id)?;
    let port = match port {
        "" => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|c| c["ports"][0]["containerPort"].as_u64())
            .unwrap_or(80),
        given => given
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid pod request \"{id}\"")))?,
    };
    let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
    ip_port(ip, u16::try_from(port).unwrap_or(80))
}

/// Where a Service request goes: a ready endpoint of the Service port named (by number or name).
fn service_target(cluster: &Cluster, namespace: &str, id: &str) -> Result<SocketAddr, ApiError> {
    let (service, port) = addressed(cluster, "services", namespace, id)?;
    let name = crate::meta::name(&service);
    let ports: Vec<&Value> = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let service_port = match port.parse::<u64>() {
        Ok(number) => Some(
            *ports
                .iter()
                .find(|p| p["port"].as_u64() == Some(number))
                .ok_or_else(|| {
                    ApiError::service_unavailable(format!(
                        "no service port {number} found for service \"{name}\""
                    ))
                })?,
        ),
        Err(_) => ports
            .iter()
            .find(|p| p["name"].as_str().unwrap_or_default() == port)
            .copied(),
    };
    let port_name = service_port
        .and_then(|p| p["name"].as_str())
        .unwrap_or(port);
    let no_endpoints = |shown: &str| {
        ApiError::service_unavailable(format!("no endpoints available for service \"{shown}\""))
    };
    if let Some(stored) = cluster
        .store()
        .get(&ObjectKey::new("endpoints", namespace, name))
    {
        let subsets = stored["subsets"].as_array().filter(|s| !s.is_empty());
        let subsets = subsets.ok_or_else(|| no_endpoints(name))?;
        for subset in subsets {
            let address = subset["addresses"][0]["ip"].as_str();
            let port = subset["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"].as_str().unwrap_or_default() == port_name)
                .and_then(|p| p["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok());
            if let (Some(ip), Some(port)) = (address, port) {
                return ip_port(ip, port);
            }
        }
        return Err(no_endpoints(id));
    }
    let service_port = service_port.ok_or_else(|| no_endpoints(id))?;
    let (pods, _) = cluster.store().list("pods", Some(namespace));
    let ready = endpoints::selected(&service, &pods);
    let pod = ready.first().ok_or_else(|| no_endpoints(name))?;
    let port = endpoints::target_port(service_port, pod).ok_or_else(|| no_endpoints(id))?;
    ip_port(pod["status"]["podIP"].as_str().unwrap_or_default(), port)
}

/// Forwards a request of a `proxy` subresource and returns the pod's answer.
pub async fn serve(
    cluster: &Cluster,
    request: &ResourcePath,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let id = request.name.as_deref().unwrap_or_default();
    let target = match request.plural.as_str() {
        "pods" => pod_target(cluster, namespace, id)?,
        "services" => service_target(cluster, namespace, id)?,
        _ => return Err(ApiError::no_route()),
    };
    if split_scheme_name_port(id).is_some_and(|(scheme, _, _)| scheme == "https") {
        return Err(ApiError::service_unavailable(
            "proxying to an https backend is not supported by this server",
        ));
    }
    let marker = format!("/{}/{id}/proxy", request.plural);
    let full = uri.path();
    let prefix_end = full
        .find(&marker)
        .map_or(full.len(), |at| at + marker.len());
    let prefix = &full[..prefix_end];
    let tail = match &full[prefix_end..] {
        "" => "/",
        tail => tail,
    };
    let path = match uri.query() {
        Some(query) => format!("{tail}?{query}"),
        None => tail.to_string(),
    };
    // HTTP/2 clients (kubectl) name the host in the request's authority, not in a header.
    let request_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let mut outgoing = http::Request::builder().method(method.clone()).uri(&path);
    for (name, value) in headers {
        let dropped = HOP_BY_HOP.contains(&name.as_str())
            || name == header::AUTHORIZATION
            || name == header::ACCEPT_ENCODING;
        if !dropped {
            outgoing = outgoing.header(name, value);
        }
    }
    if !headers.contains_key(header::HOST) {
        let host = match request_host.as_str() {
            "" => target.to_string(),
            given => given.to_string(),
        };
        outgoing = outgoing.header(header::HOST, host);
    }
    let forwarded = format!("{prefix}{tail}");
    outgoing = outgoing.header("x-forwarded-uri", forwarded);
    let outgoing = outgoing
        .body(http_body_util::Full::new(body))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unreachable = |error: &dyn std::fmt::Display| {
        ApiError::service_unavailable(format!("error trying to reach service: {error}"))
    };
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| unreachable(&format!("dial tcp {target}: connect: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(outgoing)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut parts, incoming) = response.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    let backend = target.to_string();
    let rewriter = rewrite::Rewriter {
        prefix,
        backend: &backend,
        request_host: &request_host,
    };
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| rewriter.url(l))
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        parts.headers.insert(header::LOCATION, value);
    }
    let html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.split(';').next().unwrap_or_default().trim() == "text/html");
    let encoded = parts.headers.contains_key(header::CONTENT_ENCODING);
    if !html || encoded {
        let mut response = Response::new(Body::new(incoming));
        *response.status_mut() = parts.status;
        *response.headers_mut() = parts.headers;
        return Ok(response);
    }
    let page = incoming
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    let rewritten = rewriter.html(&String::from_utf8_lossy(&page));
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::new(Body::from(rewritten));
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    Ok(response)
}
