//! One HTTPS POST of an AdmissionReview: a fresh TCP and TLS connection (rustls, trusting only the
//! webhook's `caBundle`), HTTP/1.1, the JSON response body. Errors are worded as Go's HTTP client
//! words them, for the `failed calling webhook` message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, RootCertStore, pki_types::CertificateDer, pki_types::ServerName};

/// The largest response read (Kubernetes allows 3 MiB objects; patches are smaller).
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Where to send a review: the address to connect to, the name the certificate must carry, and
/// the path with its query.
#[derive(Debug, Clone)]
pub struct Destination {
    pub address: SocketAddr,
    pub server_name: String,
    pub path_and_query: String,
    /// The URL as shown in error messages (`Post "URL": ...`).
    pub shown: String,
}

fn roots(ca_bundle: Option<&[u8]>) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    if let Some(pem) = ca_bundle {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("caBundle: {e}"))?;
            roots.add(cert).map_err(|e| format!("caBundle: {e}"))?;
        }
    }
    Ok(roots)
}

fn connector(ca_bundle: Option<&[u8]>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_bundle)?)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// POSTs `body` and returns the decoded JSON response, or why the call failed, within `timeout`.
pub async fn post(
    destination: &Destination,
    ca_bundle: Option<&[u8]>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Value, String> {
    let shown = format!("Post \"{}\"", destination.shown);
    match tokio::time::timeout(timeout, exchange(destination, ca_bundle, body)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{shown}: {error}")),
        Err(_) => Err(format!("{shown}: context deadline exceeded")),
    }
}

async fn exchange(
    destination: &Destination,
    ca_bundle: Option<&[u8]>,
    body: Vec<u8>,
) -> Result<Value, String> {
    let connector = connector(ca_bundle)?;
    let tcp = TcpStream::connect(destination.address)
        .await
        .map_err(|e| format!("dial tcp {}: connect: {e}", destination.address))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(destination.server_name.clone())
        .map_err(|e| format!("invalid server name {:?}: {e}", destination.server_name))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::post(destination.path_and_query.as_str())
        .header(http::header::HOST, destination.server_name.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "the server responded with status {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&bytes)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the response is not JSON: {e}"))
}

/// Splits an `https://host[:port]/path?query` URL into a destination; `host` must be an IP
/// address or `localhost` (there is no DNS here). `timeout` is appended as the API server does.
pub fn from_url(url: &str, timeout: Duration) -> Result<Destination, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid webhook URL {url:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("webhook URL {url:?} must use https"));
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(443);
    let ip: std::net::IpAddr = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().map_err(|_| {
            format!("dial tcp: lookup {host}: no such host (the local cluster resolves only IP addresses and localhost)")
        })?
    };
    let path = uri.path();
    let path_and_query = with_timeout(path, uri.query(), timeout);
    Ok(Destination {
        address: SocketAddr::new(ip, port),
        server_name: host.to_string(),
        shown: format!(
            "https://{}{path_and_query}",
            uri.authority().map(|a| a.as_str()).unwrap_or(host)
        ),
        path_and_query,
    })
}

/// `path?timeout=10s`, keeping an existing query.
pub fn with_timeout(path: &str, query: Option<&str>, timeout: Duration) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let timeout = format!("timeout={}s", timeout.as_secs());
    match query.filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}&{timeout}"),
        None => format!("{path}?{timeout}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_destinations() {
        let d = from_url(
            "https://127.0.0.1:9443/validate?x=1",
            Duration::from_secs(5),
        )
        .expect("url reads");
        assert_eq!(d.address, "127.0.0.1:9443".parse().expect("address"));
        assert_eq!(d.server_name, "127.0.0.1");
        assert_eq!(d.path_and_query, "/validate?x=1&timeout=5s");
        assert_eq!(d.shown, "https://127.0.0.1:9443/validate?x=1&timeout=5s");
        let local = from_url("https://localhost/m", Duration::from_secs(10)).expect("url reads");
        assert_eq!(local.address.port(), 443);
        assert!(from_url("http://127.0.0.1/", Duration::from_secs(1)).is_err());
        assert!(from_url("https://example.com/", Duration::from_secs(1)).is_err());
    }
}
