//! A layer on the operator's client that holds back its watches of one resource, as a busy API
//! server or a slow network delays watch events: the operator's cache of those objects then runs
//! that far behind the cluster, while its reads and writes go through at once.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;

/// Delays the answer of every watch request of `plural` (e.g. `pods`) by `delay`, and with
/// `lists_too` its lists as well, which keeps the operator's first listing (its cache not yet
/// filled) that long.
#[derive(Clone)]
pub struct SlowWatches {
    pub plural: &'static str,
    pub delay: Duration,
    pub lists_too: bool,
}

impl<S> tower::Layer<S> for SlowWatches {
    type Service = Slowed<S>;

    fn layer(&self, inner: S) -> Slowed<S> {
        Slowed {
            inner,
            slow: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Slowed<S> {
    inner: S,
    slow: SlowWatches,
}

impl SlowWatches {
    fn applies_to<B>(&self, request: &http::Request<B>) -> bool {
        let uri = request.uri();
        let watches = uri
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair == "watch=true"));
        let reads = request.method() == http::Method::GET && (watches || self.lists_too);
        reads && uri.path().rsplit('/').next() == Some(self.plural)
    }
}

impl<S, B> tower::Service<http::Request<B>> for Slowed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let delay = if self.slow.applies_to(&request) {
            self.slow.delay
        } else {
            Duration::ZERO
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            answer.await
        })
    }
}
