//! The metrics of SparkConnects, in the style of the application metrics (and under the same
//! `--metrics-prefix` and `--metrics-labels`): counters that move when a reconcile writes a
//! change of state, so restarts and resyncs do not count again, and gauges recomputed from every
//! SparkConnect a reconcile looks at.
//!
//! - `spark_connect_count`: SparkConnects the operator has taken up;
//! - `spark_connect_failure_count`: changes to `Failed` (a server that ended, an invalid spec);
//! - `spark_connect_ready_count`: SparkConnects `Ready` now (gauge);
//! - `spark_connect_executor_running_count`: their running executors (gauge);
//! - `spark_connect_ready_latency_seconds` (and `…_histogram`): on each change to `Ready`, the
//!   seconds since the server was created or last went down (the `ServerPodReady` condition's
//!   last transition).

use std::sync::Mutex;

use kube::ResourceExt;
use prometheus_client::registry::Registry;
use spark_operator_api::{SparkConnect, SparkConnectStatus};

use super::tracked::Tracked;
use super::{Buckets, Counters, Gauges, Histograms, Labels, MetricsConfig, labels};
use crate::connect::{CONDITION_SERVER_POD_READY, State};

pub(super) struct ConnectMetrics {
    count: Counters,
    failure: Counters,
    ready: Gauges,
    executor_running: Gauges,
    ready_latency: Histograms,
    ready_latency_histogram: Histograms,
    tracked: Mutex<Tracked>,
}

/// What one status change means for the counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub taken_up: bool,
    pub failed: bool,
    /// Seconds from the server's creation or going down to ready.
    pub ready_latency: Option<f64>,
}

fn state(status: &SparkConnectStatus) -> Option<State> {
    State::parse(status.state.as_deref())
}

/// The counter updates of the change from `old` to `new`, written at `now`.
pub fn changes(
    old: &SparkConnectStatus,
    new: &SparkConnectStatus,
    now: jiff::Timestamp,
) -> Changes {
    let (before, after) = (state(old), state(new));
    if before == after {
        return Changes::default();
    }
    let down_since = old
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_SERVER_POD_READY && c.status != "True")
        .map(|c| c.last_transition_time.0);
    Changes {
        taken_up: before.is_none(),
        failed: after == Some(State::Failed),
        ready_latency: match (after, down_since) {
            (Some(State::Ready), Some(since)) => {
                Some(now.duration_since(since).as_secs_f64().max(0.0))
            }
            _ => None,
        },
    }
}

/// What the gauges count of one SparkConnect: whether it is ready, and its running executors.
pub fn ready(status: Option<&SparkConnectStatus>) -> (bool, u64) {
    let Some(status) = status else {
        return (false, 0);
    };
    let running = status.executors.get("running").copied().unwrap_or(0);
    (
        state(status) == Some(State::Ready),
        u64::try_from(running).unwrap_or(0),
    )
}

impl ConnectMetrics {
    /// One sample in every family, for the generated metrics reference.
    pub(super) fn describe(&self, labels: &Labels) {
        for counters in [&self.count, &self.failure] {
            drop(counters.get_or_create(labels));
        }
        for gauges in [&self.ready, &self.executor_running] {
            drop(gauges.get_or_create(labels));
        }
        for histograms in [&self.ready_latency, &self.ready_latency_histogram] {
            drop(histograms.get_or_create(labels));
        }
    }

    /// The metrics, registered in `registry` under `full` names (the prefix applied); their
    /// counters are added to `plain_counters`.
    pub(super) fn registered(
        registry: &mut Registry,
        config: &MetricsConfig,
        plain_counters: &mut Vec<String>,
        full: impl Fn(&str) -> String,
    ) -> Self {
        let latency =
            || Histograms::new_with_constructor(Buckets(config.job_start_latency_buckets.clone()));
        let metrics = Self {
            count: Counters::default(),
            failure: Counters::default(),
            ready: Gauges::default(),
            executor_running: Gauges::default(),
            ready_latency: Histograms::new_with_constructor(Buckets(Vec::new())),
            ready_latency_histogram: latency(),
            tracked: Mutex::new(Tracked::default()),
        };
        // Served with the application metrics (`--enable-metrics`) or not at all.
        if !config.spark_metrics {
            return metrics;
        }
        for (name, help, family) in [
            (
                "spark_connect_count",
                "SparkConnects the operator has taken up",
                &metrics.count,
            ),
            (
                "spark_connect_failure_count",
                "SparkConnects that became Failed",
                &metrics.failure,
            ),
        ] {
            registry.register(full(name), help, family.clone());
            plain_counters.push(full(name));
        }
        registry.register(
            full("spark_connect_ready_count"),
            "SparkConnects Ready now",
            metrics.ready.clone(),
        );
        registry.register(
            full("spark_connect_executor_running_count"),
            "Executors of SparkConnects running now",
            metrics.executor_running.clone(),
        );
        registry.register(
            full("spark_connect_ready_latency_seconds"),
            "From a server's creation or failure to ready",
            metrics.ready_latency.clone(),
        );
        registry.register(
            full("spark_connect_ready_latency_seconds_histogram"),
            "From a server's creation or failure to ready",
            metrics.ready_latency_histogram.clone(),
        );
        metrics
    }

    fn labels(config: &MetricsConfig, connect: &SparkConnect) -> Labels {
        labels::of(config, connect.namespace().as_deref(), connect.labels())
    }

    /// Sets the gauges' share of `connect` from `status`.
    pub(super) fn track(
        &self,
        config: &MetricsConfig,
        connect: &SparkConnect,
        status: Option<&SparkConnectStatus>,
    ) {
        let status = status.filter(|_| connect.metadata.deletion_timestamp.is_none());
        let key = format!(
            "{}/{}",
            connect.namespace().unwrap_or_default(),
            connect.name_any()
        );
        let (ready, executors) = ready(status);
        let Ok(mut tracked) = self.tracked.lock() else {
            return;
        };
        let now = tokio::time::Instant::now();
        tracked.set(
            key,
            Self::labels(config, connect),
            ready,
            executors,
            now,
            &self.ready,
            &self.executor_running,
        );
        tracked.expire(
            now,
            config.gauge_expiry,
            &self.ready,
            &self.executor_running,
        );
    }

    /// Counts the change from `old` to `new`, just written.
    pub(super) fn status_written(
        &self,
        config: &MetricsConfig,
        connect: &SparkConnect,
        old: &SparkConnectStatus,
        new: &SparkConnectStatus,
    ) {
        let labels = Self::labels(config, connect);
        let changes = changes(old, new, jiff::Timestamp::now());
        if changes.taken_up {
            self.count.get_or_create(&labels).inc();
        }
        if changes.failed {
            self.failure.get_or_create(&labels).inc();
        }
        if let Some(seconds) = changes.ready_latency {
            self.ready_latency.get_or_create(&labels).observe(seconds);
            self.ready_latency_histogram
                .get_or_create(&labels)
                .observe(seconds);
        }
        self.track(config, connect, Some(new));
    }

    /// Drops the gauges' shares of SparkConnects no reconcile looked at for a while.
    pub(super) fn expire(&self, config: &MetricsConfig) {
        if let Ok(mut tracked) = self.tracked.lock() {
            tracked.expire(
                tokio::time::Instant::now(),
                config.gauge_expiry,
                &self.ready,
                &self.executor_running,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn status(state: &str, ready: bool, since: i64) -> SparkConnectStatus {
        SparkConnectStatus {
            state: Some(state.into()),
            conditions: vec![Condition {
                type_: CONDITION_SERVER_POD_READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: String::new(),
                message: String::new(),
                last_transition_time: Time(at(since)),
                observed_generation: None,
            }],
            executors: [("running".to_string(), 2)].into(),
            ..Default::default()
        }
    }

    #[test]
    fn transitions_count_once_and_time_the_way_to_ready() {
        let new = SparkConnectStatus::default();
        let provisioning = status("Provisioning", false, 0);
        assert_eq!(
            changes(&new, &provisioning, at(0)),
            Changes {
                taken_up: true,
                ..Default::default()
            }
        );
        let ready_now = status("Ready", true, 12);
        assert_eq!(
            changes(&provisioning, &ready_now, at(12)).ready_latency,
            Some(12.0)
        );
        assert_eq!(changes(&ready_now, &ready_now, at(40)), Changes::default());
        assert!(changes(&ready_now, &status("Failed", false, 50), at(50)).failed);
        assert_eq!(ready(Some(&ready_now)), (true, 2));
        assert_eq!(ready(Some(&provisioning)), (false, 2));
        assert_eq!(ready(None), (false, 0));
    }
}
