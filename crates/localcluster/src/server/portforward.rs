//! `pods/{name}/portforward` over WebSockets (`v4.channel.k8s.io`, what kube-rs and kubectl speak):
//! each requested port gets a data channel (2i) and an error channel (2i+1); both open with a frame
//! carrying the port, then data frames are relayed to and from a TCP connection to the pod's IP,
//! which for a local cluster is a loopback address a local process can listen on.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::api::Cluster;
use crate::error::ApiError;

const PROTOCOL: &str = "v4.channel.k8s.io";

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

/// Frame on `channel` with `payload`.
fn frame(channel: u8, payload: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(payload.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(payload);
    Message::Binary(Bytes::from(bytes))
}

pub fn serve(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    ports: Option<&str>,
    websocket: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let ports = parse_ports(ports)?;
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
    let websocket = websocket.ok_or_else(|| {
        ApiError::bad_request("port forwarding needs a WebSocket upgrade (v4.channel.k8s.io)")
    })?;
    Ok(websocket
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| relay(socket, ip, ports))
        .into_response())
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
            match message {
                Message::Binary(bytes) if bytes.len() > 1 => {
                    let channel = bytes[0] as usize;
                    if channel % 2 == 1 {
                        continue;
                    }
                    if let Some(Some(writer)) = writers.get_mut(channel / 2)
                        && writer.write_all(&bytes[1..]).await.is_err()
                    {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
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
