//! Client-side rate limits, as Kubeflow's operator sets them: a token bucket (Go's
//! `golang.org/x/time/rate`: `rate` tokens a second, at most `burst` saved up, every request
//! reserving one and waiting its turn) behind `--kube-api-qps`/`--kube-api-burst`, applied to
//! every request the operator's client makes ([`Throttle`], a layer on kube's client stack),
//! and behind `--workqueue-ratelimiter-bucket-qps`/`-bucket-size`, applied to reconciles
//! requeued after failures (`controller::backoff`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A token bucket: `rate` tokens a second, holding at most `burst`; it starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// `rate` must be positive and `burst` at least 1 (the flags are checked before).
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        TokenBucket {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: None,
        }
    }

    /// Takes a token at `now`: how long to wait until it is there (zero if it is now). Later
    /// reservations wait behind this one, as Go's `Limiter.Reserve` makes them.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// `--kube-api-qps` and `--kube-api-burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiRateLimit {
    pub qps: f64,
    pub burst: u32,
}

/// A layer that holds each request of the service it wraps until the bucket has a token for it
/// (with no limit, it holds none).
#[derive(Clone)]
pub struct Throttle {
    bucket: Option<Arc<Mutex<TokenBucket>>>,
}

impl Throttle {
    pub fn new(limit: Option<ApiRateLimit>) -> Throttle {
        Throttle {
            bucket: limit
                .map(|limit| Arc::new(Mutex::new(TokenBucket::new(limit.qps, limit.burst)))),
        }
    }
}

impl<S> tower::Layer<S> for Throttle {
    type Service = Throttled<S>;

    fn layer(&self, inner: S) -> Throttled<S> {
        Throttled {
            inner,
            bucket: self.bucket.clone(),
            wait: None,
            granted: false,
        }
    }
}

/// A service that is ready only once a token is reserved for its next request. kube's client
/// puts its stack behind one buffer, so its requests queue there while one waits.
pub struct Throttled<S> {
    inner: S,
    bucket: Option<Arc<Mutex<TokenBucket>>>,
    wait: Option<Pin<Box<Sleep>>>,
    granted: bool,
}

impl<S, R> tower::Service<R> for Throttled<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        while !self.granted {
            if let Some(wait) = self.wait.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
                self.granted = true;
            } else {
                let delay = match &self.bucket {
                    Some(bucket) => bucket
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .reserve(Instant::now()),
                    None => Duration::ZERO,
                };
                if delay.is_zero() {
                    self.granted = true;
                } else {
                    self.wait = Some(Box::pin(tokio::time::sleep(delay)));
                }
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.granted = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn the_bucket_lets_a_burst_through_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(start)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(500));
        assert_eq!(waits[5], Duration::from_millis(1500));
        // Saved up again, at most a burst.
        let later = start + Duration::from_secs(60);
        let refilled: Vec<Duration> = (0..4).map(|_| bucket.reserve(later)).collect();
        assert_eq!(refilled[..3], [Duration::ZERO; 3]);
        assert!(refilled[3] > Duration::ZERO);
    }

    #[tokio::test]
    async fn requests_through_the_layer_wait_their_turn() {
        let throttle = Throttle::new(Some(ApiRateLimit {
            qps: 50.0,
            burst: 2,
        }));
        let mut service = throttle.layer(tower::service_fn(|n: u32| async move {
            Ok::<_, std::convert::Infallible>(n)
        }));
        let start = Instant::now();
        for n in 0..12 {
            service.ready().await.unwrap().call(n).await.unwrap();
        }
        // Two at once, then ten at fifty a second: 200 ms.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(190) && elapsed < Duration::from_secs(1),
            "{elapsed:?}"
        );
    }
}
