//! `rest_client_requests_total{code, host, method}`: every request the operator's client makes to
//! the API server, by answer, as controller-runtime counts them for Kubeflow's operator. A
//! dashboard can tell from it how much API traffic the operator causes per application and how
//! often the server refuses it; a transport failure is counted with the code `<error>`.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::Labels;

/// A `tower` layer counting the requests of the service it wraps (kube's client stack).
#[derive(Clone)]
pub struct CountRequests {
    pub(super) requests: Family<Labels, Counter>,
    /// The API server's `host:port`, the same for every request of a client.
    pub(super) host: String,
}

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counting: self.clone(),
        }
    }
}

/// A service whose requests are counted once answered.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counting: CountRequests,
}

impl<S, B, R> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let answer = self.inner.call(request);
        let counting = self.counting.clone();
        Box::pin(async move {
            let result = answer.await;
            let code = match &result {
                Ok(response) => response.status().as_str().to_string(),
                Err(_) => "<error>".to_string(),
            };
            let labels = vec![
                ("code".to_string(), code),
                ("host".to_string(), counting.host.clone()),
                ("method".to_string(), method),
            ];
            counting.requests.get_or_create(&labels).inc();
            result
        })
    }
}

/// The `host:port` of the API server at `url`, as the `host` label shows it.
pub fn host_of(url: &http::Uri) -> String {
    let host = url.host().unwrap_or_default();
    match url.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use tower::{Layer, Service, ServiceExt};

    #[tokio::test]
    async fn answers_are_counted_by_code_host_and_method_and_failures_as_errors() {
        let metrics = Metrics::default();
        let layer = metrics.count_requests(&"https://10.0.0.1:6443".parse().unwrap());
        let server = tower::service_fn(|request: http::Request<()>| async move {
            match request.uri().path() {
                "/down" => Err("connection refused"),
                "/missing" => Ok(http::Response::builder().status(404).body(()).unwrap()),
                _ => Ok(http::Response::new(())),
            }
        });
        let mut client = layer.layer(server);
        for (method, path) in [
            ("GET", "/ok"),
            ("GET", "/ok"),
            ("POST", "/missing"),
            ("GET", "/down"),
        ] {
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .body(())
                .unwrap();
            let _ = client.ready().await.unwrap().call(request).await;
        }
        let text = metrics.encode();
        for line in [
            r#"rest_client_requests_total{code="200",host="10.0.0.1:6443",method="GET"} 2"#,
            r#"rest_client_requests_total{code="404",host="10.0.0.1:6443",method="POST"} 1"#,
            r#"rest_client_requests_total{code="<error>",host="10.0.0.1:6443",method="GET"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn the_host_label_keeps_the_port_when_the_url_names_one() {
        assert_eq!(
            host_of(&"https://api.example:6443/".parse().unwrap()),
            "api.example:6443"
        );
        assert_eq!(
            host_of(&"https://api.example".parse().unwrap()),
            "api.example"
        );
    }
}
