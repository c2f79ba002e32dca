//! `pods/{name}/portforward`, relayed to a TCP connection to the pod's IP (for a local cluster a
//! loopback address a local process can listen on), in the three ways clients ask for it:
//!
//! - WebSockets with `v4.channel.k8s.io` (kube-rs): each requested port gets a data channel (2i)
//!   and an error channel (2i+1); both open with a frame carrying the port, then data frames are
//!   relayed.
//! - WebSockets with `SPDY/3.1+portforward.k8s.io` (kubectl since 1.31): SPDY/3.1 frames carried
//!   in binary messages, served by [`session`].
//! - `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io` (kubectl's fallback
//!   when the WebSocket upgrade fails, and older clients): the same SPDY session on the upgraded
//!   connection.

mod session;
mod spdy;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::channel::{self, Encoding};
use crate::error::ApiError;
use crate::registry::Cluster;

const PROTOCOL: &str = "v4.channel.k8s.io";
/// kubectl's port-forward protocol.
const PORT_FORWARD: &str = "portforward.k8s.io";
/// The WebSocket subprotocol of SPDY tunnelled in binary messages.
const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// The upgrade of a request that asks for SPDY (`Upgrade: SPDY/3.1`), taken from it.
pub fn spdy_upgrade(headers: &HeaderMap, extensions: &mut http::Extensions) -> Option<OnUpgrade> {
    let wants_spdy = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if wants_spdy {
        extensions.remove::<OnUpgrade>()
    } else {
        None
    }
}

/// The ports of a `ports=80,4040` query.
pub fn parse_ports(value: Option<&str>) -> Result<Vec<u16>, ApiError> {
    let ports: Vec<u16> = value
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("invalid port {p:?}: ports must be 1 to 65535"))
                })
        })
        .collect::<Result<_, _>>()?;
    if ports.is_empty() {
        return Err(ApiError::bad_request(
            "at least one port must be given: ?ports=8080",
        ));
    }
    Ok(ports)
}

/// A message on `channel` of the `v4.channel.k8s.io` protocol.
fn frame(channel: u8, payload: &[u8]) -> Message {
    channel::frame(Encoding::Binary, channel, payload)
}

pub fn serve(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    ports: Option<&str>,
    websocket: Option<WebSocketUpgrade>,
    spdy: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    let pods = cluster.resource("v1", "pods")?;
    let pod = cluster.get(&pods, namespace, name)?;
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if phase != "Running" || ip.is_empty() {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running (phase {phase:?})"
        )));
    }
    if let Some(websocket) = websocket {
        // SPDY clients name the ports in each stream, not in the query: only ports given must
        // be valid before the upgrade.
        let ports = match parse_ports(ports) {
            Err(error) if ports.is_some() => return Err(error),
            parsed => parsed,
        };
        return Ok(websocket
            .protocols([PROTOCOL, SPDY_TUNNEL])
            .on_upgrade(move |socket| async move {
                match (socket.protocol().and_then(|p| p.to_str().ok()), ports) {
                    (Some(SPDY_TUNNEL), _) => tunnel(socket, ip).await,
                    (_, Ok(ports)) => relay(socket, ip, ports).await,
                    (_, Err(error)) => refuse(socket, &error.message).await,
                }
            })
            .into_response());
    }
    let Some(upgrade) = spdy else {
        return Err(ApiError::bad_request(
            "port forwarding needs a WebSocket upgrade (v4.channel.k8s.io or \
             SPDY/3.1+portforward.k8s.io) or Upgrade: SPDY/3.1",
        ));
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => session::serve(TokioIo::new(upgraded), ip).await,
            Err(error) => tracing::debug!(%error, "port-forward: SPDY upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", PORT_FORWARD)
        .body(Body::empty())
        .unwrap_or_default())
}

/// A WebSocket whose ports are unusable: closed with the reason, as the upgrade already happened.
async fn refuse(mut socket: WebSocket, reason: &str) {
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: reason.to_string().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// SPDY carried in a WebSocket's binary messages: a byte pipe between the socket and a session.
async fn tunnel(socket: WebSocket, ip: String) {
    let (session_side, pipe) = tokio::io::duplex(64 * 1024);
    tokio::spawn(session::serve(session_side, ip));
    let (mut from_session, mut to_session) = tokio::io::split(pipe);
    let (mut sink, mut incoming) = socket.split();
    let to_client = async move {
        let mut chunk = vec![0u8; 32 * 1024];
        while let Ok(read) = from_session.read(&mut chunk).await {
            let message = Message::Binary(Bytes::copy_from_slice(&chunk[..read]));
            if read == 0 || sink.send(message).await.is_err() {
                break;
            }
        }
        // A normal closure is what the client reads as the end of the connection.
        let normal = CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(normal))).await;
    };
    let from_client = async move {
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                Message::Binary(bytes) if to_session.write_all(&bytes).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_session.shutdown().await;
    };
    tokio::join!(to_client, from_client);
}

async fn relay(socket: WebSocket, ip: String, ports: Vec<u16>) {
    let (mut sink, mut incoming) = socket.split();
    let (to_client, mut outgoing) = mpsc::channel::<Message>(64);
    let mut writers = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let data = (2 * index) as u8;
        let error = data + 1;
        let opened = [
            frame(data, &port.to_le_bytes()),
            frame(error, &port.to_le_bytes()),
        ];
        for message in opened {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        match TcpStream::connect((ip.as_str(), *port)).await {
            Ok(stream) => {
                let (mut reader, writer) = stream.into_split();
                writers.push(Some(writer));
                let to_client = to_client.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 32 * 1024];
                    while let Ok(read) = reader.read(&mut buffer).await {
                        if read == 0 || to_client.send(frame(data, &buffer[..read])).await.is_err()
                        {
                            break;
                        }
                    }
                    let _ = to_client.send(Message::Close(None)).await;
                });
            }
            Err(error) => {
                writers.push(None);
                let message = format!("error forwarding port {port} to pod at {ip}: {error}");
                let _ = sink
                    .send(frame(error_channel(index), message.as_bytes()))
                    .await;
            }
        }
    }
    drop(to_client);
    let sending = async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    };
    let receiving = async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
            let Some((channel, data)) = channel::parse(Encoding::Binary, &message) else {
                continue;
            };
            // Odd channels are the error channels, which only the server writes.
            if channel % 2 == 1 || data.is_empty() {
                continue;
            }
            if let Some(Some(writer)) = writers.get_mut(usize::from(channel / 2))
                && writer.write_all(&data).await.is_err()
            {
                break;
            }
        }
    };
    tokio::select! {
        _ = sending => {},
        _ = receiving => {},
    }
}

fn error_channel(index: usize) -> u8 {
    (2 * index + 1) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_checked() {
        assert_eq!(parse_ports(Some("80,4040")).unwrap(), [80, 4040]);
        assert!(parse_ports(Some("0")).is_err());
        assert!(parse_ports(Some("http")).is_err());
        assert!(parse_ports(None).is_err());
    }
}
