//! The life of one `exec` or `attach` WebSocket once upgraded: an empty message on the lowest
//! channel written tells the client the session is open; then the client's standard input is
//! passed on (until it closes it with a v5 close signal or goes away) while the command's or the
//! container's output is sent; at the end the error channel says how it ended and the server
//! closes the connection, waiting a little for the client to close its side so that no output
//! still in flight is cut off.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{broadcast, mpsc, watch};

use super::super::channel;
use super::protocol::{self, Outcome, Protocol, Streams};
use crate::streaming::{OutputStream, StdinEvent, exit_code};

/// How long the server waits for a client to close its side once the session has ended.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The negotiated protocol and the streams asked for.
#[derive(Debug, Clone)]
pub struct Talk {
    pub protocol: Protocol,
    pub streams: Streams,
}

impl Talk {
    fn frame(&self, channel: u8, data: &[u8]) -> Message {
        channel::frame(self.protocol.encoding, channel, data)
    }

    /// The channel that carries `stream` of the process, if the client asked for it; with a
    /// terminal both go to standard output.
    fn channel_of(&self, stream: OutputStream) -> Option<u8> {
        match stream {
            OutputStream::Stdout | OutputStream::Stderr if self.streams.tty => {
                self.streams.stdout.then_some(protocol::STDOUT)
            }
            OutputStream::Stdout => self.streams.stdout.then_some(protocol::STDOUT),
            OutputStream::Stderr => self.streams.stderr.then_some(protocol::STDERR),
        }
    }
}

/// What a client sends that matters: standard input, and its end.
enum FromClient {
    Stdin(Bytes),
    StdinClosed,
}

/// Runs `command`, started as `child`, with the client's streams.
pub async fn exec(socket: WebSocket, talk: Talk, mut child: Child, command: Vec<String>) {
    let (outgoing, from_client, gone) = open(socket, &talk).await;
    let stdin = child.stdin.take().filter(|_| talk.streams.stdin);
    let feeding = tokio::spawn(feed(from_client, stdin));
    let outputs = [
        (OutputStream::Stdout, child.stdout.take().map(boxed)),
        (OutputStream::Stderr, child.stderr.take().map(boxed)),
    ]
    .map(|(stream, pipe)| {
        tokio::spawn(relay_pipe(
            pipe,
            talk.channel_of(stream),
            talk.clone(),
            outgoing.clone(),
        ))
    });
    let status = child.wait().await;
    for output in outputs {
        let _ = output.await;
    }
    feeding.abort();
    let outcome = match status.map(exit_code) {
        Ok(0) => Outcome::Success,
        Ok(code) => Outcome::Exited { code, command },
        Err(error) => Outcome::Failed(format!("error executing command in container: {error}")),
    };
    finish(outgoing, &talk, &outcome, gone).await;
}

/// Attaches the client to a running container: what it prints from now on, and its standard
/// input when it has one, until the container ends (a success) or the client goes away.
pub async fn attach(
    socket: WebSocket,
    talk: Talk,
    mut output: broadcast::Receiver<(OutputStream, Bytes)>,
    stdin: Option<mpsc::Sender<StdinEvent>>,
) {
    let (outgoing, from_client, mut gone) = open(socket, &talk).await;
    let stdin = stdin.filter(|_| talk.streams.stdin);
    let feeding = tokio::spawn(forward_stdin(from_client, stdin));
    let detached = loop {
        let printed = tokio::select! {
            printed = output.recv() => printed,
            _ = gone.wait_for(|g| *g) => break true,
        };
        match printed {
            Ok((stream, bytes)) => {
                if let Some(channel) = talk.channel_of(stream) {
                    let _ = outgoing.send(talk.frame(channel, &bytes)).await;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => break false,
        }
    };
    if detached {
        // The client went away; the container runs on.
        let _ = feeding.await;
        return;
    }
    feeding.abort();
    finish(outgoing, &talk, &Outcome::Success, gone).await;
}

/// A session that can only say why it cannot run (the kubelet refused the stream, the command
/// could not start).
pub async fn report(socket: WebSocket, talk: Talk, outcome: Outcome) {
    let (outgoing, _from_client, gone) = open(socket, &talk).await;
    finish(outgoing, &talk, &outcome, gone).await;
}

/// Starts the writer and the reader of an upgraded socket and sends the opening message.
async fn open(
    socket: WebSocket,
    talk: &Talk,
) -> (
    mpsc::Sender<Message>,
    mpsc::Receiver<FromClient>,
    watch::Receiver<bool>,
) {
    let (sink, incoming) = socket.split();
    let outgoing = write_all(sink);
    let _ = outgoing
        .send(talk.frame(talk.streams.opening_channel(), &[]))
        .await;
    let (from_client, gone) = read_client(incoming, talk.protocol);
    (outgoing, from_client, gone)
}

/// Sends what is queued, in order; once the client is gone what is queued is dropped, so that
/// nothing waits on it.
fn write_all(mut sink: SplitSink<WebSocket, Message>) -> mpsc::Sender<Message> {
    let (sender, mut queued) = mpsc::channel::<Message>(64);
    tokio::spawn(async move {
        let mut open = true;
        while let Some(message) = queued.recv().await {
            if open && sink.send(message).await.is_err() {
                open = false;
            }
        }
        let _ = sink.flush().await;
    });
    sender
}

/// Reads the client's messages: standard input and its close signal (v5), ignoring resizes;
/// `gone` turns true when the client closed the connection, which closes standard input too.
fn read_client(
    mut incoming: SplitStream<WebSocket>,
    protocol: Protocol,
) -> (mpsc::Receiver<FromClient>, watch::Receiver<bool>) {
    let (sender, receiver) = mpsc::channel(64);
    let (gone_tx, gone) = watch::channel(false);
    tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
            let event = match channel::parse(protocol.encoding, &message) {
                Some((protocol::STDIN, data)) if !data.is_empty() => FromClient::Stdin(data),
                Some((protocol::CLOSE, data))
                    if protocol.by_api_server && data.as_ref() == [protocol::STDIN] =>
                {
                    FromClient::StdinClosed
                }
                _ => continue,
            };
            let _ = sender.send(event).await;
        }
        let _ = sender.send(FromClient::StdinClosed).await;
        let _ = gone_tx.send(true);
    });
    (receiver, gone)
}

/// Writes the client's standard input to the command's until either closes.
async fn feed(mut from_client: mpsc::Receiver<FromClient>, stdin: Option<ChildStdin>) {
    let Some(mut stdin) = stdin else { return };
    while let Some(FromClient::Stdin(data)) = from_client.recv().await {
        if stdin.write_all(&data).await.is_err() {
            return;
        }
        let _ = stdin.flush().await;
    }
    let _ = stdin.shutdown().await;
}

/// Passes the client's standard input to a container's, and says when the client detaches.
async fn forward_stdin(
    mut from_client: mpsc::Receiver<FromClient>,
    stdin: Option<mpsc::Sender<StdinEvent>>,
) {
    let Some(stdin) = stdin else { return };
    while let Some(FromClient::Stdin(data)) = from_client.recv().await {
        if stdin.send(StdinEvent::Data(data)).await.is_err() {
            return;
        }
    }
    let _ = stdin.send(StdinEvent::Detached).await;
}

type Pipe = Box<dyn AsyncRead + Unpin + Send>;

fn boxed(pipe: impl AsyncRead + Unpin + Send + 'static) -> Pipe {
    Box::new(pipe)
}

/// Sends what a command writes to `pipe` on `channel` (read and dropped when the client did not
/// ask for it), until the pipe ends.
async fn relay_pipe(
    pipe: Option<Pipe>,
    channel: Option<u8>,
    talk: Talk,
    outgoing: mpsc::Sender<Message>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = vec![0u8; 32 * 1024];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        if let Some(channel) = channel {
            let _ = outgoing.send(talk.frame(channel, &buffer[..read])).await;
        }
    }
}

/// Writes how the session ended on the error channel, closes the connection and waits a little
/// for the client to close its side.
async fn finish(
    outgoing: mpsc::Sender<Message>,
    talk: &Talk,
    outcome: &Outcome,
    mut gone: watch::Receiver<bool>,
) {
    if let Some(status) = protocol::status_message(&talk.protocol, outcome) {
        let _ = outgoing
            .send(talk.frame(protocol::ERROR, status.as_bytes()))
            .await;
    }
    let normal = CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    };
    let _ = outgoing.send(Message::Close(Some(normal))).await;
    drop(outgoing);
    let _ = tokio::time::timeout(CLOSE_WAIT, gone.wait_for(|g| *g)).await;
}
