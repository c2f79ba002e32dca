//! controller-runtime's work queue metrics (`workqueue_*{controller,name}`) and
//! `controller_runtime_active_workers` / `_max_concurrent_reconciles`, which Kubeflow users
//! scrape. This operator runs kube-runtime's controller, whose queue is not observable from
//! outside, so the same numbers are kept here from what the controller does, with
//! controller-runtime's rules: an application is in the queue from the first event (or the due
//! time of a requeue) that asks for its reconcile until that reconcile starts, and asking again
//! while it waits adds nothing.
//!
//! - `workqueue_adds_total`: applications put in the queue (watch events of an application or
//!   its pods, and requeues that came due).
//! - `workqueue_depth`: applications waiting for a reconcile now.
//! - `workqueue_queue_duration_seconds`: from entering the queue to the reconcile's start.
//! - `workqueue_work_duration_seconds`: how long reconciles took.
//! - `workqueue_unfinished_work_seconds`, `workqueue_longest_running_processor_seconds`: the
//!   summed and the longest age of the reconciles running now.
//! - `workqueue_retries_total`: reconciles that failed and were requeued with back-off.
//! - `controller_runtime_active_workers`: reconciles running now;
//!   `controller_runtime_max_concurrent_reconciles`: `--controller-threads`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use super::{Buckets, Counters, Histograms, Labels};

/// controller-runtime's buckets for queue and work durations: 10 ns to 1000 s, by tens.
fn duration_buckets() -> Buckets {
    Buckets(exponential_buckets(1e-8, 10.0, 12).collect())
}

#[derive(Debug, Default)]
struct QueueState {
    /// Applications waiting, since when.
    waiting: HashMap<String, Instant>,
    /// Requeues asked for, by when they come due.
    due: HashMap<String, Instant>,
    /// Reconciles running, since when.
    running: HashMap<String, Instant>,
    max_workers: i64,
}

#[derive(Debug, Default)]
struct Queues {
    by_controller: Mutex<HashMap<String, Arc<Mutex<QueueState>>>>,
}

/// The families, registered once; [`WorkQueues::queue`] gives one controller's queue.
#[derive(Clone)]
pub struct WorkQueues {
    adds: Counters,
    retries: Counters,
    queue_duration: Histograms,
    work_duration: Histograms,
    queues: Arc<Queues>,
}

impl WorkQueues {
    pub fn registered(registry: &mut Registry) -> Self {
        let queues = WorkQueues {
            adds: Counters::default(),
            retries: Counters::default(),
            queue_duration: Histograms::new_with_constructor(duration_buckets()),
            work_duration: Histograms::new_with_constructor(duration_buckets()),
            queues: Arc::default(),
        };
        registry.register(
            "workqueue_adds",
            "Applications put in the controller's queue",
            queues.adds.clone(),
        );
        registry.register(
            "workqueue_retries",
            "Reconciles requeued with back-off after a failure",
            queues.retries.clone(),
        );
        registry.register(
            "workqueue_queue_duration_seconds",
            "From entering the queue to the start of the reconcile",
            queues.queue_duration.clone(),
        );
        registry.register(
            "workqueue_work_duration_seconds",
            "How long reconciles took",
            queues.work_duration.clone(),
        );
        registry.register_collector(Box::new(Gauges(queues.queues.clone())));
        queues
    }

    /// The queue of `controller` (`sparkapplication`, `scheduledsparkapplication`).
    pub fn queue(&self, controller: &str) -> WorkQueue {
        let state = {
            let mut all = self
                .queues
                .by_controller
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            all.entry(controller.to_string()).or_default().clone()
        };
        let labels: Labels = vec![
            ("controller".to_string(), controller.to_string()),
            ("name".to_string(), controller.to_string()),
        ];
        // The counters are served from the queue's start, at 0, as client-go's queue metrics are.
        let _ = self.adds.get_or_create(&labels);
        let _ = self.retries.get_or_create(&labels);
        WorkQueue {
            labels,
            families: self.clone(),
            state,
        }
    }
}

/// One controller's queue, as far as the metrics go; cheap to clone.
#[derive(Clone)]
pub struct WorkQueue {
    labels: Labels,
    families: WorkQueues,
    state: Arc<Mutex<QueueState>>,
}

impl WorkQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `--controller-threads`.
    pub fn set_max_workers(&self, workers: u16) {
        self.state().max_workers = i64::from(workers);
    }

    /// An event asks for a reconcile of `key`.
    pub fn added(&self, key: &str) {
        let mut state = self.state();
        if !state.waiting.contains_key(key) {
            state.waiting.insert(key.to_string(), Instant::now());
            self.families.adds.get_or_create(&self.labels).inc();
        }
    }

    /// The reconcile of `key` asked to be run again `after` from now; `failed` when it is the
    /// back-off after a failure.
    pub fn requeued(&self, key: &str, after: Duration, failed: bool) {
        if failed {
            self.families.retries.get_or_create(&self.labels).inc();
        }
        let due = Instant::now() + after;
        let mut state = self.state();
        let entry = state.due.entry(key.to_string()).or_insert(due);
        *entry = (*entry).min(due);
    }

    /// The reconcile of `key` starts; it is counted as running until the guard is dropped.
    pub fn started(&self, key: &str) -> Running {
        let now = Instant::now();
        let mut state = self.state();
        let came_due = state.due.get(key).copied().filter(|due| *due <= now);
        if came_due.is_some() {
            state.due.remove(key);
        }
        let since = match (state.waiting.remove(key), came_due) {
            (Some(waiting), _) => Some(waiting),
            (None, Some(due)) => {
                self.families.adds.get_or_create(&self.labels).inc();
                Some(due)
            }
            (None, None) => None,
        };
        if let Some(since) = since {
            self.families
                .queue_duration
                .get_or_create(&self.labels)
                .observe(now.duration_since(since).as_secs_f64());
        }
        state.running.insert(key.to_string(), now);
        Running {
            queue: self.clone(),
            key: key.to_string(),
            started: now,
        }
    }
}

/// A reconcile running; dropping it records its duration.
pub struct Running {
    queue: WorkQueue,
    key: String,
    started: Instant,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.queue.state().running.remove(&self.key);
        self.queue
            .families
            .work_duration
            .get_or_create(&self.queue.labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// The gauges, read from every queue at each scrape.
#[derive(Debug)]
struct Gauges(Arc<Queues>);

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = Instant::now();
        let queues: Vec<(String, Arc<Mutex<QueueState>>)> = {
            let all = self
                .0
                .by_controller
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut all: Vec<_> = all.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        let mut rows = Vec::new();
        for (controller, state) in &queues {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            let due = state
                .due
                .iter()
                .filter(|(key, due)| **due <= now && !state.waiting.contains_key(*key))
                .count();
            let ages = state
                .running
                .values()
                .map(|s| now.duration_since(*s).as_secs_f64());
            rows.push((
                controller.clone(),
                (state.waiting.len() + due) as i64,
                ages.clone().fold(0.0, |sum, age| sum + age),
                ages.fold(0.0, f64::max),
                state.running.len() as i64,
                state.max_workers,
            ));
        }
        let queue_labels = |c: &str| {
            vec![
                ("controller".to_string(), c.to_string()),
                ("name".to_string(), c.to_string()),
            ]
        };
        type Row = (String, i64, f64, f64, i64, i64);
        type Gauge = (&'static str, &'static str, bool, fn(&Row) -> f64);
        // Name, help, whether labelled with the queue's name too, and the value (counts are
        // written as integers).
        let gauges: [Gauge; 5] = [
            (
                "workqueue_depth",
                "Applications waiting for a reconcile",
                true,
                |r| r.1 as f64,
            ),
            (
                "workqueue_unfinished_work_seconds",
                "Summed age of the reconciles running now",
                true,
                |r| r.2,
            ),
            (
                "workqueue_longest_running_processor_seconds",
                "Age of the longest reconcile running now",
                true,
                |r| r.3,
            ),
            (
                "controller_runtime_active_workers",
                "Reconciles running now",
                false,
                |r| r.4 as f64,
            ),
            (
                "controller_runtime_max_concurrent_reconciles",
                "Reconciles that may run at once",
                false,
                |r| r.5 as f64,
            ),
        ];
        for (name, help, with_name, value) in gauges {
            let sample = ConstGauge::new(0.0f64);
            let mut family = encoder.encode_descriptor(name, help, None, sample.metric_type())?;
            for row in &rows {
                let labels = if with_name {
                    queue_labels(&row.0)
                } else {
                    vec![("controller".to_string(), row.0.clone())]
                };
                let metric = family.encode_family(&labels)?;
                let value = value(row);
                if value.fract() == 0.0 && !name.ends_with("_seconds") {
                    ConstGauge::new(value as i64).encode(metric)?;
                } else {
                    ConstGauge::new(value).encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for WorkQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueues").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry).unwrap();
        text
    }

    /// The value of the one sample of `series` in `text`.
    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in\n{text}"))
    }

    #[tokio::test]
    async fn the_queue_counts_as_controller_runtime_does() {
        let mut registry = Registry::default();
        let queues = WorkQueues::registered(&mut registry);
        let queue = queues.queue("sparkapplication");
        queue.set_max_workers(10);
        queue.added("default/a");
        queue.added("default/a");
        queue.added("default/b");
        let scraped = text(&registry);
        for line in [
            r#"workqueue_adds_total{controller="sparkapplication",name="sparkapplication"} 2"#,
            r#"workqueue_depth{controller="sparkapplication",name="sparkapplication"} 2"#,
            r#"controller_runtime_max_concurrent_reconciles{controller="sparkapplication"} 10"#,
        ] {
            assert!(scraped.lines().any(|l| l == line), "{line} in\n{scraped}");
        }
        let running = queue.started("default/a");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let scraped = text(&registry);
        for line in [
            r#"workqueue_depth{controller="sparkapplication",name="sparkapplication"} 1"#,
            r#"controller_runtime_active_workers{controller="sparkapplication"} 1"#,
            r#"workqueue_queue_duration_seconds_count{controller="sparkapplication",name="sparkapplication"} 1"#,
        ] {
            assert!(scraped.lines().any(|l| l == line), "{line} in\n{scraped}");
        }
        let longest = sample(
            &scraped,
            r#"workqueue_longest_running_processor_seconds{controller="sparkapplication",name="sparkapplication"}"#,
        );
        assert!((0.05..1.0).contains(&longest), "{longest}");
        drop(running);
        // A failed reconcile's requeue is a retry, and an add once it comes due.
        queue.requeued("default/a", Duration::from_millis(20), true);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let scraped = text(&registry);
        assert!(
            scraped.contains(
                r#"workqueue_depth{controller="sparkapplication",name="sparkapplication"} 2"#
            ),
            "{scraped}"
        );
        drop(queue.started("default/a"));
        let scraped = text(&registry);
        for line in [
            r#"workqueue_retries_total{controller="sparkapplication",name="sparkapplication"} 1"#,
            r#"workqueue_adds_total{controller="sparkapplication",name="sparkapplication"} 3"#,
            r#"workqueue_work_duration_seconds_count{controller="sparkapplication",name="sparkapplication"} 2"#,
            r#"controller_runtime_active_workers{controller="sparkapplication"} 0"#,
        ] {
            assert!(scraped.lines().any(|l| l == line), "{line} in\n{scraped}");
        }
    }
}
