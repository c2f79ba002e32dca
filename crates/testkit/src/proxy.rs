//! A TCP proxy in front of the local cluster, for the runtime and chart tests: it can be cut (every
//! connection dropped and new ones refused, as a network partition would), and it notes the
//! request line of every HTTP/1.1 request that passes through plain HTTP, so that a test can
//! derive which API verbs the operator really uses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub address: SocketAddr,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    cut: watch::Sender<bool>,
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Notes the request lines among the complete lines of `pending`, keeping the unfinished rest.
fn note_requests(pending: &mut Vec<u8>, requests: &Mutex<Vec<(String, String)>>) {
    while let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&pending[..end]).to_string();
        pending.drain(..end + 2);
        // A request line may follow the previous request's body on the same "line".
        let Some(line) = line.strip_suffix(" HTTP/1.1") else {
            continue;
        };
        let start = METHODS
            .iter()
            .filter_map(|m| line.rfind(&format!("{m} /")))
            .max();
        let Some(request) = start.map(|i| &line[i..]) else {
            continue;
        };
        if let Some((method, path)) = request.split_once(' ')
            && !path.contains(' ')
            && let Ok(mut requests) = requests.lock()
        {
            requests.push((method.to_string(), path.to_string()));
        }
    }
    if pending.len() > 64 * 1024 {
        let keep = pending.len() - 8 * 1024;
        pending.drain(..keep);
    }
}

async fn pipe(
    client: TcpStream,
    target: SocketAddr,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    mut cut: watch::Receiver<bool>,
) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut pending = Vec::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buffer[..n]);
            note_requests(&mut pending, &requests);
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = async { futures::join!(upstream, downstream) } => {}
        _ = cut.wait_for(|c| *c) => {}
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let address = listener.local_addr().expect("proxy address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (cut, mut cut_seen) = watch::channel(false);
        let noted = requests.clone();
        let connections = cut.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cut_seen.wait_for(|c| *c) => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        tokio::spawn(pipe(stream, target, noted.clone(), connections.clone()));
                    }
                }
            }
        });
        Proxy {
            address,
            requests,
            cut,
        }
    }

    /// Drops every connection and refuses new ones from now on.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    /// The (method, path and query) of every plain-HTTP request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
