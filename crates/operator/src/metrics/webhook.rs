//! The admission webhook's metrics, under controller-runtime's names so that the dashboards of
//! Kubeflow's webhook read them: `controller_runtime_webhook_requests_total{code, webhook}`,
//! `controller_runtime_webhook_latency_seconds{webhook}` and
//! `controller_runtime_webhook_requests_in_flight{webhook}`, the `webhook` label being the path
//! the API server called.

use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Buckets, Labels};

/// controller-runtime's buckets for webhook latency (Prometheus' defaults).
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub(super) struct WebhookMetrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, Buckets>,
    in_flight: Family<Labels, Gauge>,
}

impl WebhookMetrics {
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(Buckets(LATENCY_BUCKETS.to_vec())),
            in_flight: Family::default(),
        };
        registry.register(
            "controller_runtime_webhook_requests",
            "Admission reviews answered, by HTTP code and webhook path",
            metrics.requests.clone(),
        );
        registry.register(
            "controller_runtime_webhook_latency_seconds",
            "How long admission reviews took to answer, by webhook path",
            metrics.latency.clone(),
        );
        registry.register(
            "controller_runtime_webhook_requests_in_flight",
            "Admission reviews being answered now, by webhook path",
            metrics.in_flight.clone(),
        );
        metrics
    }

    pub(super) fn start(&self, path: &str) -> Review {
        let webhook: Labels = vec![("webhook".into(), path.into())];
        self.in_flight.get_or_create(&webhook).inc();
        Review {
            metrics: self.clone(),
            webhook,
            started: Instant::now(),
            code: None,
        }
    }
}

/// One admission review being answered: counted in flight until dropped, and counted as
/// answered, with its latency, once [`Review::answered`] gives its code.
pub struct Review {
    metrics: WebhookMetrics,
    webhook: Labels,
    started: Instant,
    code: Option<u16>,
}

impl Review {
    pub fn answered(mut self, code: u16) {
        self.code = Some(code);
    }
}

impl Drop for Review {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.in_flight.get_or_create(&self.webhook).dec();
        // A review dropped unanswered is one whose connection went away: the API server saw
        // no answer, which controller-runtime does not count either.
        let Some(code) = self.code else { return };
        m.latency
            .get_or_create(&self.webhook)
            .observe(self.started.elapsed().as_secs_f64());
        let mut labels = vec![("code".to_string(), code.to_string())];
        labels.extend(self.webhook.iter().cloned());
        m.requests.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;

    #[test]
    fn reviews_are_counted_by_code_once_answered_and_in_flight_until_then() {
        let metrics = Metrics::default();
        let first = metrics.admission_review("/mutate--v1-pod");
        let unanswered = metrics.admission_review("/mutate--v1-pod");
        let text = metrics.encode();
        assert!(
            text.contains(
                "controller_runtime_webhook_requests_in_flight{webhook=\"/mutate--v1-pod\"} 2"
            ),
            "{text}"
        );
        first.answered(200);
        drop(unanswered);
        metrics.admission_review("/validate").answered(400);
        let text = metrics.encode();
        for line in [
            "controller_runtime_webhook_requests_total{code=\"200\",webhook=\"/mutate--v1-pod\"} 1",
            "controller_runtime_webhook_requests_total{code=\"400\",webhook=\"/validate\"} 1",
            "controller_runtime_webhook_requests_in_flight{webhook=\"/mutate--v1-pod\"} 0",
            "controller_runtime_webhook_latency_seconds_count{webhook=\"/mutate--v1-pod\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
