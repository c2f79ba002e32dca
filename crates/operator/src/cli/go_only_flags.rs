//! Flags of Kubeflow's Go operator that have no equivalent here, accepted so that Kubeflow's
//! chart and kustomize arguments work unchanged: Go's profiler, controller-runtime's TLS options
//! of its metrics and webhook servers, the REST submitter's connection (its gate is refused,
//! see `feature_gates`). What each command was given that changes nothing is logged once at
//! start ([`ignored`]).

use clap::Args;

use super::go_values::go_bool;

/// Of `controller start`.
#[derive(Debug, Clone, Args)]
pub struct ControllerGoFlags {
    /// Go's pprof endpoint: there is no Go runtime to profile (ignored).
    #[arg(long, default_value = "0")]
    pub pprof_bind_address: String,
    #[command(flatten)]
    pub metrics_tls: MetricsTlsFlags,
    /// controller-runtime's TLS options of the metrics server (ignored: it serves plain HTTP).
    #[arg(long, default_value = "VersionTLS12")]
    pub metric_tls_min_version: String,
    #[arg(long, default_value = "")]
    pub metric_tls_cipher_suites: String,
    /// Kubeflow's REST submitter service (its gate is refused; these are accepted and ignored).
    #[arg(long, default_value = "")]
    pub submitter_service_url: String,
    #[arg(long, default_value = "5m")]
    pub submitter_startup_timeout: String,
    #[arg(long, default_value = "2m")]
    pub submitter_request_timeout: String,
    #[arg(long, default_value_t = 3)]
    pub submitter_max_retries: i64,
    #[arg(long, default_value = "2s")]
    pub submitter_initial_backoff: String,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub submitter_tls_enabled: Option<bool>,
    #[arg(long, default_value = "")]
    pub submitter_tls_cert_file: String,
    #[arg(long, default_value = "")]
    pub submitter_tls_key_file: String,
    #[arg(long, default_value = "")]
    pub submitter_tls_ca_file: String,
}

/// Of `webhook start`.
#[derive(Debug, Clone, Args)]
pub struct WebhookGoFlags {
    #[command(flatten)]
    pub metrics_tls: MetricsTlsFlags,
    /// controller-runtime's TLS options of the webhook server (ignored: rustls serves TLS 1.2
    /// and 1.3 with its own safe cipher suites).
    #[arg(long, default_value = "VersionTLS12")]
    pub webhook_tls_min_version: String,
    #[arg(long, default_value = "")]
    pub webhook_tls_cipher_suites: String,
}

#[derive(Debug, Clone, Args)]
pub struct MetricsTlsFlags {
    /// Serve metrics over HTTPS with authentication (ignored: metrics are served over HTTP).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub secure_metrics: Option<bool>,
}

impl MetricsTlsFlags {
    fn ignored(&self) -> Vec<String> {
        match self.secure_metrics {
            Some(true) => vec!["--secure-metrics (metrics are served over plain HTTP)".into()],
            _ => Vec::new(),
        }
    }
}

impl ControllerGoFlags {
    pub fn ignored(&self) -> Vec<String> {
        let mut ignored = self.metrics_tls.ignored();
        if !matches!(self.pprof_bind_address.as_str(), "0" | "") {
            ignored.push(format!(
                "--pprof-bind-address={} (no Go runtime to profile)",
                self.pprof_bind_address
            ));
        }
        if self.metric_tls_min_version != "VersionTLS12"
            || !self.metric_tls_cipher_suites.is_empty()
        {
            ignored.push("--metric-tls-* (metrics are served over plain HTTP)".into());
        }
        if !self.submitter_service_url.is_empty() {
            ignored.push(
                "--submitter-* (no REST submitter: applications are submitted natively)".into(),
            );
        }
        ignored
    }
}

impl WebhookGoFlags {
    pub fn ignored(&self) -> Vec<String> {
        let mut ignored = self.metrics_tls.ignored();
        if self.webhook_tls_min_version != "VersionTLS12"
            || !self.webhook_tls_cipher_suites.is_empty()
        {
            ignored.push(
                "--webhook-tls-* (rustls serves TLS 1.2 and 1.3 with its safe cipher suites)"
                    .into(),
            );
        }
        ignored
    }
}

/// Logs once which given flags change nothing here.
pub fn log_ignored(ignored: &[String]) {
    if !ignored.is_empty() {
        tracing::info!(
            "accepted for Kubeflow's arguments, with no effect here: {}",
            ignored.join("; ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        go: ControllerGoFlags,
    }

    fn parse(args: &[&str]) -> Cli {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn go_only_flags_are_accepted_and_named_when_they_would_change_something() {
        let quiet = parse(&["--pprof-bind-address=0", "--secure-metrics=false"]);
        assert!(quiet.go.ignored().is_empty());
        let loud = parse(&[
            "--pprof-bind-address=:6060",
            "--secure-metrics",
            "--metric-tls-min-version=VersionTLS13",
            "--submitter-service-url=http://submitter:8080",
        ]);
        let ignored = loud.go.ignored().join("\n");
        for flag in [
            "--pprof-bind-address=:6060",
            "--secure-metrics",
            "--metric-tls-*",
            "--submitter-*",
        ] {
            assert!(ignored.contains(flag), "{flag} in {ignored}");
        }
    }
}
