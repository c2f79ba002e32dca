//! kubectl's port-forward protocol (`portforward.k8s.io`) over a SPDY/3.1 connection, as the
//! kubelet serves it: the client opens two streams per forwarded connection, an error stream and
//! a data stream, whose headers `streamType`, `port` and `requestID` pair them; once the data
//! stream is there the pod's port is dialled and bytes are relayed in DATA frames. When the pod's
//! side closes, both streams are closed (FIN); a failure to reach the pod is written to the error
//! stream first. The same session runs on an upgraded HTTP connection (`Upgrade: SPDY/3.1`) and
//! inside a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl's default since 1.31).

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::spdy::{self, Frame, HeaderCodec, Headers};

/// What the reading side asks the writing side (which owns the header compressor) to send.
enum Outgoing {
    Reply(u32),
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    Reset {
        stream: u32,
        status: u32,
    },
    Ping(u32),
}

/// The two streams of one forwarded connection, and the pod connection once dialled.
#[derive(Default)]
struct Forward {
    port: u16,
    error_stream: Option<u32>,
    data_stream: Option<u32>,
    to_pod: Option<OwnedWriteHalf>,
    from_pod: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamType {
    Data,
    Error,
}

/// Which forwarded connection a new stream belongs to, from its headers.
fn stream_role(headers: &Headers) -> Result<(StreamType, String, u16), String> {
    let kind = match headers.get("streamtype").map(String::as_str) {
        Some("data") => StreamType::Data,
        Some("error") => StreamType::Error,
        other => {
            return Err(format!(
                "invalid streamType header {other:?}: data or error"
            ));
        }
    };
    let port = headers
        .get("port")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port header {:?}", headers.get("port")))?;
    // Clients before requestID paired streams by arrival; the port then stands in for it.
    let request = headers
        .get("requestid")
        .cloned()
        .unwrap_or_else(|| format!("port-{port}"));
    Ok((kind, request, port))
}

/// Serves port-forward streams on `connection` until the client goes away; connections are
/// dialled to `ip`.
pub async fn serve<C>(connection: C, ip: String)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(connection);
    let (outgoing, mut queue) = mpsc::unbounded_channel::<Outgoing>();
    let writing = tokio::spawn(async move {
        let mut codec = HeaderCodec::new();
        while let Some(message) = queue.recv().await {
            let frame = match message {
                Outgoing::Reply(stream) => Frame::SynReply {
                    stream,
                    fin: false,
                    headers: codec.encode(&Headers::new()),
                },
                Outgoing::Data { stream, fin, data } => Frame::Data { stream, fin, data },
                Outgoing::Reset { stream, status } => Frame::RstStream { stream, status },
                Outgoing::Ping(id) => Frame::Ping { id },
            };
            if writer.write_all(&spdy::encode(&frame)).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let mut session = Session {
        ip,
        outgoing,
        codec: HeaderCodec::new(),
        streams: HashMap::new(),
        forwards: HashMap::new(),
    };
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        loop {
            match spdy::parse(&buffer) {
                Ok(Some((frame, used))) => {
                    buffer.drain(..used);
                    if !session.handle(frame).await {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "port-forward: closing the SPDY connection");
                    break 'read;
                }
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
    session.close_all();
    drop(session);
    let _ = writing.await;
}

struct Session {
    ip: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    codec: HeaderCodec,
    /// Stream id to its role and forwarded connection.
    streams: HashMap<u32, (StreamType, String)>,
    forwards: HashMap<String, Forward>,
}

impl Session {
    fn send(&self, message: Outgoing) {
        let _ = self.outgoing.send(message);
    }

    /// Handles one frame; false ends the connection.
    async fn handle(&mut self, frame: Frame) -> bool {
        match frame {
            Frame::SynStream {
                stream, headers, ..
            } => {
                let headers = match self.codec.decode(&headers) {
                    Ok(headers) => headers,
                    Err(error) => {
                        tracing::debug!(%error, "port-forward: unreadable SYN_STREAM");
                        return false;
                    }
                };
                self.open(stream, &headers).await;
            }
            Frame::Data { stream, fin, data } => self.data(stream, fin, &data).await,
            Frame::RstStream { stream, .. } => self.reset(stream),
            Frame::Ping { id } => self.send(Outgoing::Ping(id)),
            Frame::GoAway { .. } => return false,
            Frame::SynReply { .. } | Frame::Ignored => {}
        }
        true
    }

    async fn open(&mut self, stream: u32, headers: &Headers) {
        let (kind, request, port) = match stream_role(headers) {
            Ok(role) => role,
            Err(error) => {
                tracing::debug!(%error, "port-forward: refusing a stream");
                self.send(Outgoing::Reset {
                    stream,
                    status: spdy::RST_PROTOCOL_ERROR,
                });
                return;
            }
        };
        self.send(Outgoing::Reply(stream));
        self.streams.insert(stream, (kind, request.clone()));
        let forward = self.forwards.entry(request.clone()).or_default();
        forward.port = port;
        match kind {
            StreamType::Error => forward.error_stream = Some(stream),
            StreamType::Data => forward.data_stream = Some(stream),
        }
        if kind == StreamType::Data {
            self.dial(&request).await;
        }
    }

    /// Connects a data stream to the pod's port, or reports why it cannot on the error stream.
    async fn dial(&mut self, request: &str) {
        let Some(forward) = self.forwards.get_mut(request) else {
            return;
        };
        let (Some(data_stream), port) = (forward.data_stream, forward.port) else {
            return;
        };
        let error_stream = forward.error_stream;
        match TcpStream::connect((self.ip.as_str(), port)).await {
            Ok(pod) => {
                let _ = pod.set_nodelay(true);
                let (mut from_pod, to_pod) = pod.into_split();
                forward.to_pod = Some(to_pod);
                let outgoing = self.outgoing.clone();
                forward.from_pod = Some(tokio::spawn(async move {
                    let mut chunk = vec![0u8; 32 * 1024];
                    while let Ok(read) = from_pod.read(&mut chunk).await {
                        if read == 0 {
                            break;
                        }
                        let data = chunk[..read].to_vec();
                        let message = Outgoing::Data {
                            stream: data_stream,
                            fin: false,
                            data,
                        };
                        if outgoing.send(message).is_err() {
                            return;
                        }
                    }
                    close_streams(&outgoing, Some(data_stream), error_stream);
                }));
            }
            Err(error) => {
                let message = format!(
                    "error forwarding port {port} to pod at {}: {error}",
                    self.ip
                );
                if let Some(stream) = error_stream {
                    self.send(Outgoing::Data {
                        stream,
                        fin: false,
                        data: message.into_bytes(),
                    });
                }
                close_streams(&self.outgoing, Some(data_stream), error_stream);
            }
        }
    }

    async fn data(&mut self, stream: u32, fin: bool, data: &[u8]) {
        let Some((StreamType::Data, request)) = self.streams.get(&stream).cloned() else {
            // The client writes nothing on error streams; anything else is not ours.
            return;
        };
        let Some(forward) = self.forwards.get_mut(&request) else {
            return;
        };
        if let Some(to_pod) = forward.to_pod.as_mut() {
            if !data.is_empty() && to_pod.write_all(data).await.is_err() {
                forward.to_pod = None;
            } else if fin {
                // The client is done sending: pass the half-close on, as a TCP FIN.
                let _ = to_pod.shutdown().await;
            }
        }
    }

    /// The client reset a stream: the forwarded connection is dropped and its streams closed.
    fn reset(&mut self, stream: u32) {
        let Some((_, request)) = self.streams.remove(&stream) else {
            return;
        };
        let Some(forward) = self.forwards.get_mut(&request) else {
            return;
        };
        if forward.data_stream != Some(stream) {
            forward.error_stream = None;
            return;
        }
        // kubectl resets the data stream when it is done with a connection, and only forgets the
        // error stream: the whole forwarded connection ends here.
        if let Some(task) = forward.from_pod.take()
            && !task.is_finished()
        {
            task.abort();
            close_streams(&self.outgoing, None, forward.error_stream);
        }
        if let Some(error_stream) = forward.error_stream {
            self.streams.remove(&error_stream);
        }
        self.forwards.remove(&request);
    }

    fn close_all(&mut self) {
        for forward in self.forwards.values_mut() {
            if let Some(task) = forward.from_pod.take() {
                task.abort();
            }
        }
        self.forwards.clear();
    }
}

/// Half-closes the streams of a forwarded connection from this side.
fn close_streams(
    outgoing: &mpsc::UnboundedSender<Outgoing>,
    data: Option<u32>,
    error: Option<u32>,
) {
    for stream in [data, error].into_iter().flatten() {
        let _ = outgoing.send(Outgoing::Data {
            stream,
            fin: true,
            data: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn streams_are_paired_by_request_id() {
        let data = headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "3")]);
        assert_eq!(
            stream_role(&data).unwrap(),
            (StreamType::Data, "3".to_string(), 80)
        );
        let old_client = headers(&[("streamtype", "error"), ("port", "80")]);
        assert_eq!(stream_role(&old_client).unwrap().1, "port-80");
    }

    #[test]
    fn bad_stream_headers_name_the_header() {
        let error = stream_role(&headers(&[("streamtype", "video"), ("port", "80")])).unwrap_err();
        assert!(error.contains("streamType"), "{error}");
        let error = stream_role(&headers(&[("streamtype", "data"), ("port", "0")])).unwrap_err();
        assert!(error.contains("port"), "{error}");
    }
}
