//! The metrics settings (`--enable-metrics`, `--metrics-prefix`, `--metrics-labels`, the latency
//! buckets) and the labels of an application's metrics, with Kubeflow's meaning: the prefix is
//! put before each `spark_*` name as it is written, and an application's metrics carry exactly
//! the `--metrics-labels`, each the value of the application's label of that name, else its
//! namespace for `namespace`, else `Unknown`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DEFAULT_GAUGE_EXPIRY, Labels};

/// Kubeflow's default `--metrics-job-start-latency-buckets`.
pub const DEFAULT_START_LATENCY_BUCKETS: [f64; 10] = [
    30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0, 300.0,
];
/// Kubeflow's default `--metrics-job-submit-latency-buckets`.
pub const DEFAULT_SUBMIT_LATENCY_BUCKETS: [f64; 10] =
    [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Label value of an extra label that the application does not carry, as in Kubeflow.
pub const UNKNOWN: &str = "Unknown";

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Whether the `spark_*` metrics are served (`--enable-metrics`); the others always are.
    pub spark_metrics: bool,
    /// Put before every `spark_*` metric name as it is (`acme_` gives `acme_spark_...`), with
    /// `-` made `_`, as Kubeflow does.
    pub prefix: String,
    /// Application labels whose values become metric labels (names made valid for Prometheus).
    pub labels: Vec<String>,
    /// Buckets (seconds) of the submit latency histogram.
    pub job_submit_latency_buckets: Vec<f64>,
    /// Buckets (seconds) of the start latency histogram.
    pub job_start_latency_buckets: Vec<f64>,
    /// See [`DEFAULT_GAUGE_EXPIRY`].
    pub gauge_expiry: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            spark_metrics: true,
            prefix: String::new(),
            labels: Vec::new(),
            job_submit_latency_buckets: DEFAULT_SUBMIT_LATENCY_BUCKETS.to_vec(),
            job_start_latency_buckets: DEFAULT_START_LATENCY_BUCKETS.to_vec(),
            gauge_expiry: DEFAULT_GAUGE_EXPIRY,
        }
    }
}

/// Whether `prefix` makes valid metric names of the `spark_*` ones put after it.
fn valid_prefix(prefix: &str) -> bool {
    let name = metric_name(prefix, "spark");
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A `spark_*` metric's name under `prefix`, as Kubeflow's `CreateValidMetricNameLabel` makes it.
pub fn metric_name(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}").replace('-', "_")
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
        if !valid_prefix(&self.prefix) {
            return Err(format!(
                "--metrics-prefix {:?} is not a valid Prometheus name prefix: use letters, digits, '_' and '-', not starting with a digit",
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
        for (flag, buckets) in [
            (
                "--metrics-job-submit-latency-buckets",
                &self.job_submit_latency_buckets,
            ),
            (
                "--metrics-job-start-latency-buckets",
                &self.job_start_latency_buckets,
            ),
        ] {
            check_buckets(flag, buckets)?;
        }
        Ok(())
    }
}

fn check_buckets(flag: &str, buckets: &[f64]) -> Result<(), String> {
    if buckets.is_empty() {
        return Err(format!("{flag} needs at least one bucket"));
    }
    if buckets.iter().any(|b| !b.is_finite() || *b <= 0.0) {
        return Err(format!(
            "{flag} must be positive numbers of seconds: {buckets:?}"
        ));
    }
    if buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("{flag} must increase: {buckets:?}"));
    }
    Ok(())
}

/// The labels of an application's metrics: each of `--metrics-labels`, in their order, with the
/// value of the application's label of that name, else the namespace for `namespace`, else
/// `Unknown`.
pub fn of(
    config: &MetricsConfig,
    namespace: Option<&str>,
    app_labels: &BTreeMap<String, String>,
) -> Labels {
    let by_name: BTreeMap<String, &String> =
        app_labels.iter().map(|(k, v)| (label_name(k), v)).collect();
    config
        .labels
        .iter()
        .map(|key| {
            let name = label_name(key);
            let value = match by_name.get(&name) {
                Some(value) => value.to_string(),
                None if name == "namespace" => namespace.unwrap_or_default().to_string(),
                None => UNKNOWN.into(),
            };
            (name, value)
        })
        .collect()
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
                ("team".to_string(), "data".to_string()),
                (
                    "app_kubernetes_io_part_of".to_string(),
                    "Unknown".to_string()
                ),
                ("namespace".to_string(), "spark".to_string()),
            ]
        );
        assert_eq!(
            of(&MetricsConfig::default(), Some("spark"), &app_labels),
            vec![],
            "no labels unless asked for, as in Kubeflow"
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
        for good in ["acme_", "acme-", "acme", ""] {
            let config = MetricsConfig {
                prefix: good.into(),
                ..ok.clone()
            };
            assert_eq!(config.validate(), Ok(()), "{good}");
        }
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
        let submit = MetricsConfig {
            job_submit_latency_buckets: vec![],
            ..ok.clone()
        };
        assert!(
            submit
                .validate()
                .unwrap_err()
                .contains("--metrics-job-submit-latency-buckets")
        );
        let negative = MetricsConfig {
            job_start_latency_buckets: vec![-1.0],
            ..ok
        };
        assert!(negative.validate().is_err());
    }
}
