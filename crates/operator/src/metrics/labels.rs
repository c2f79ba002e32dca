//! The metrics settings (`--metrics-prefix`, `--metrics-labels`,
//! `--metrics-job-start-latency-buckets`) and the labels of an application's metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DEFAULT_GAUGE_EXPIRY, Labels};

/// Kubeflow's default `--metrics-job-start-latency-buckets`.
pub const DEFAULT_START_LATENCY_BUCKETS: [f64; 10] = [
    30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0, 300.0,
];

/// Label value of an extra label that the application does not carry, as in Kubeflow.
pub const UNKNOWN: &str = "Unknown";

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Put before every `spark_*` metric name, joined with `_`.
    pub prefix: String,
    /// Application labels whose values become metric labels (names made valid for Prometheus).
    pub labels: Vec<String>,
    /// Buckets (seconds) of the latency histograms.
    pub job_start_latency_buckets: Vec<f64>,
    /// See [`DEFAULT_GAUGE_EXPIRY`].
    pub gauge_expiry: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            labels: Vec::new(),
            job_start_latency_buckets: DEFAULT_START_LATENCY_BUCKETS.to_vec(),
            gauge_expiry: DEFAULT_GAUGE_EXPIRY,
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An application label key as a Prometheus label name: every other character becomes `_`, and
/// a leading digit gets a `_` before it (Kubeflow's `CreateValidMetricNameLabel`).
pub fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.prefix.is_empty() && !valid_name(&self.prefix) {
            return Err(format!(
                "--metrics-prefix {:?} is not a valid Prometheus name prefix: use letters, digits and '_', not starting with a digit",
                self.prefix
            ));
        }
        let mut seen = BTreeMap::new();
        for key in &self.labels {
            if key.is_empty() {
                return Err("--metrics-labels has an empty label".into());
            }
            let name = label_name(key);
            if name.starts_with("__") {
                return Err(format!(
                    "--metrics-labels {key:?} becomes {name:?}, and names starting with '__' are reserved by Prometheus"
                ));
            }
            if let Some(other) = seen.insert(name.clone(), key) {
                return Err(format!(
                    "--metrics-labels {other:?} and {key:?} both become the metric label {name:?}"
                ));
            }
        }
        let buckets = &self.job_start_latency_buckets;
        if buckets.is_empty() {
            return Err("--metrics-job-start-latency-buckets needs at least one bucket".into());
        }
        if buckets.iter().any(|b| !b.is_finite() || *b <= 0.0) {
            return Err(format!(
                "--metrics-job-start-latency-buckets must be positive numbers of seconds: {buckets:?}"
            ));
        }
        if buckets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "--metrics-job-start-latency-buckets must increase: {buckets:?}"
            ));
        }
        Ok(())
    }
}

/// The labels of an application's metrics: `namespace`, then each extra label in the order of
/// `--metrics-labels` (`namespace` there is the application's namespace).
pub fn of(
    config: &MetricsConfig,
    namespace: Option<&str>,
    app_labels: &BTreeMap<String, String>,
) -> Labels {
    let namespace = namespace.unwrap_or_default().to_string();
    let mut labels = vec![("namespace".to_string(), namespace)];
    let by_name: BTreeMap<String, &String> =
        app_labels.iter().map(|(k, v)| (label_name(k), v)).collect();
    for key in &config.labels {
        let name = label_name(key);
        if name == "namespace" {
            continue;
        }
        let value = by_name
            .get(&name)
            .map(|v| v.to_string())
            .unwrap_or_else(|| UNKNOWN.into());
        labels.push((name, value));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_become_prometheus_names() {
        assert_eq!(
            label_name("app.kubernetes.io/team"),
            "app_kubernetes_io_team"
        );
        assert_eq!(label_name("9lives"), "_9lives");
    }

    #[test]
    fn extra_labels_come_from_the_application_or_are_unknown() {
        let config = MetricsConfig {
            labels: vec![
                "team".into(),
                "app.kubernetes.io/part-of".into(),
                "namespace".into(),
            ],
            ..MetricsConfig::default()
        };
        let app_labels = BTreeMap::from([("team".to_string(), "data".to_string())]);
        assert_eq!(
            of(&config, Some("spark"), &app_labels),
            vec![
                ("namespace".to_string(), "spark".to_string()),
                ("team".to_string(), "data".to_string()),
                (
                    "app_kubernetes_io_part_of".to_string(),
                    "Unknown".to_string()
                ),
            ]
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let ok = MetricsConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let prefix = MetricsConfig {
            prefix: "1x".into(),
            ..ok.clone()
        };
        assert!(prefix.validate().unwrap_err().contains("--metrics-prefix"));
        let clash = MetricsConfig {
            labels: vec!["a.b".into(), "a/b".into()],
            ..ok.clone()
        };
        assert!(clash.validate().unwrap_err().contains("both become"));
        let buckets = MetricsConfig {
            job_start_latency_buckets: vec![60.0, 30.0],
            ..ok.clone()
        };
        assert!(buckets.validate().unwrap_err().contains("increase"));
        let negative = MetricsConfig {
            job_start_latency_buckets: vec![-1.0],
            ..ok
        };
        assert!(negative.validate().is_err());
    }
}
