//! The production flags of `controller start`, named and defaulted as in Kubeflow's operator:
//! leader election, metrics and health probes (the webhook shares the leader election, metrics
//! and endpoint groups). [`RuntimeFlags::check`] turns them into settings or names the flag that
//! is wrong.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::go_values::{go_bool, number_list, string_list};
use crate::leader::{DEFAULT_LOCK_NAME, Timings};
use crate::metrics::MetricsConfig;
use crate::runtime::http::{parse_bind_address, validate_endpoint};

#[derive(Debug, Clone, Args)]
pub struct RuntimeFlags {
    #[command(flatten)]
    pub leader: LeaderElectionFlags,
    #[command(flatten)]
    pub endpoints: EndpointFlags,
    #[command(flatten)]
    pub metrics: MetricsFlags,
    /// Threads that run the controllers, whatever --controller-threads (reconciles at once,
    /// which wait on the API server, not on a CPU). One (a current-thread runtime) carries
    /// hundreds of submissions per second at the least CPU per application (bench/README.md);
    /// more spend CPU handing work between threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: u16,
    /// The least time between two wake-ups of a busy controller thread (ours; 0s: none). What
    /// arrives meanwhile is handled in one wake-up: less CPU per application, for up to that
    /// much more latency on each step that waits for the API server (bench/README.md).
    #[arg(long, default_value = "2ms")]
    pub min_wakeup_interval: String,
}

/// Leader election, as Kubeflow names its flags (both commands take them).
#[derive(Debug, Clone, Args)]
pub struct LeaderElectionFlags {
    /// Run the controllers only while holding the leader lease (for more than one replica).
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease used as the leader lock.
    #[arg(long, default_value = DEFAULT_LOCK_NAME)]
    pub leader_election_lock_name: String,
    /// Namespace of the Lease; default: the namespace of the operator's kubeconfig or pod.
    #[arg(long)]
    pub leader_election_lock_namespace: Option<String>,
    /// How long a standby waits after the leader's last renewal before taking over (e.g. 15s).
    #[arg(long, default_value = "15s")]
    pub leader_election_lease_duration: String,
    /// How long the leader keeps trying to renew before it stops acting (shorter than the lease).
    #[arg(long, default_value = "14s")]
    pub leader_election_renew_deadline: String,
    /// How often candidates try to acquire and the leader renews.
    #[arg(long, default_value = "4s")]
    pub leader_election_retry_period: String,
}

/// Kubeflow's metrics flags.
#[derive(Debug, Clone, Args)]
pub struct MetricsFlags {
    /// Serve the spark_* metrics (the others are served whenever --metrics-bind-address is).
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub enable_metrics: bool,
    /// Put before the name of every spark_* metric, as it is (`acme_` gives acme_spark_...).
    #[arg(long, default_value = "")]
    pub metrics_prefix: String,
    /// Labels of the spark_* metrics, comma-separated: each is the application's label of that
    /// name (`namespace`: its namespace), or Unknown.
    #[arg(long, default_value = "")]
    pub metrics_labels: String,
    /// Buckets (seconds) of the submit latency histogram, comma-separated.
    #[arg(long, default_value = "0.5,1,2,4,8,16,32,64,128,256")]
    pub metrics_job_submit_latency_buckets: String,
    /// Buckets (seconds) of the start latency histogram, comma-separated.
    #[arg(long, default_value = "30,60,90,120,150,180,210,240,270,300")]
    pub metrics_job_start_latency_buckets: String,
}

impl MetricsFlags {
    pub fn config(&self) -> Result<MetricsConfig, String> {
        let metrics = MetricsConfig {
            spark_metrics: self.enable_metrics,
            prefix: self.metrics_prefix.clone(),
            labels: string_list(&self.metrics_labels)
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect(),
            job_submit_latency_buckets: number_list(
                "--metrics-job-submit-latency-buckets",
                &self.metrics_job_submit_latency_buckets,
            )?,
            job_start_latency_buckets: number_list(
                "--metrics-job-start-latency-buckets",
                &self.metrics_job_start_latency_buckets,
            )?,
            ..MetricsConfig::default()
        };
        metrics.validate()?;
        Ok(metrics)
    }
}

impl LeaderElectionFlags {
    /// The timings when leader election is on, or the flag that is wrong.
    pub fn timings(&self) -> Result<Option<Timings>, String> {
        if !self.leader_election {
            return Ok(None);
        }
        check_lock_name(&self.leader_election_lock_name)?;
        if let Some(namespace) = &self.leader_election_lock_namespace {
            check_lock_name(namespace).map_err(|_| {
                format!("--leader-election-lock-namespace {namespace:?} is not a namespace name")
            })?;
        }
        let timings = Timings {
            lease_duration: parse_duration(
                "--leader-election-lease-duration",
                &self.leader_election_lease_duration,
            )?,
            renew_deadline: parse_duration(
                "--leader-election-renew-deadline",
                &self.leader_election_renew_deadline,
            )?,
            retry_period: parse_duration(
                "--leader-election-retry-period",
                &self.leader_election_retry_period,
            )?,
        };
        timings.validate()?;
        Ok(Some(timings))
    }
}

/// Where a process serves its metrics and health probes (`controller start`, `webhook start`).
#[derive(Debug, Clone, Args)]
pub struct EndpointFlags {
    /// Where metrics are served (host:port or :port); 0 turns them off.
    #[arg(long, default_value = "0")]
    pub metrics_bind_address: String,
    /// The path of the metrics.
    #[arg(long, default_value = "/metrics")]
    pub metrics_endpoint: String,
    /// Where /healthz and /readyz are served (host:port or :port); 0 turns them off.
    #[arg(long, default_value = ":8081")]
    pub health_probe_bind_address: String,
}

impl EndpointFlags {
    /// The checked addresses (metrics, health probes), or the flag that is wrong.
    pub fn check(&self) -> Result<(Option<SocketAddr>, Option<SocketAddr>), String> {
        validate_endpoint(&self.metrics_endpoint)?;
        Ok((
            parse_bind_address("--metrics-bind-address", &self.metrics_bind_address)?,
            parse_bind_address(
                "--health-probe-bind-address",
                &self.health_probe_bind_address,
            )?,
        ))
    }
}

/// The checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeSettings {
    /// Timings when leader election is on.
    pub leader_election: Option<Timings>,
    pub metrics_address: Option<SocketAddr>,
    pub metrics: MetricsConfig,
    pub health_address: Option<SocketAddr>,
}

/// Reads a Go duration as Kubeflow's flags take it: `15s`, `1m30s`, `500ms`, `1h`.
pub fn parse_duration(flag: &str, value: &str) -> Result<Duration, String> {
    super::go_values::duration(flag, value)
}

/// A Lease name must be a DNS subdomain.
fn check_lock_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--leader-election-lock-name {name:?} is not a valid Lease name: lower-case letters, digits, '-' and '.'"
        ))
    }
}

impl RuntimeFlags {
    /// `--min-wakeup-interval`, read before the runtime it shapes is built.
    pub fn min_wakeup_interval(&self) -> Result<Duration, String> {
        parse_duration("--min-wakeup-interval", &self.min_wakeup_interval)
    }

    pub fn check(&self) -> Result<RuntimeSettings, String> {
        let leader_election = self.leader.timings()?;
        let metrics = self.metrics.config()?;
        let (metrics_address, health_address) = self.endpoints.check()?;
        Ok(RuntimeSettings {
            leader_election,
            metrics_address,
            metrics,
            health_address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: RuntimeFlags,
    }

    fn check(args: &[&str]) -> Result<RuntimeSettings, String> {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .flags
            .check()
    }

    #[test]
    fn the_wakeup_interval_defaults_to_the_runtime_s_and_names_its_flag() {
        let parse = |args: &[&str]| {
            let mut all = vec!["test"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .unwrap()
                .flags
                .min_wakeup_interval()
        };
        assert_eq!(
            parse(&[]),
            Ok(crate::runtime::wakeups::DEFAULT_MIN_WAKEUP_INTERVAL)
        );
        assert_eq!(parse(&["--min-wakeup-interval", "0s"]), Ok(Duration::ZERO));
        let error = parse(&["--min-wakeup-interval", "fast"]).unwrap_err();
        assert!(error.contains("--min-wakeup-interval"), "{error}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("f", "15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("f", "1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("f", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("f", "1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "15", "s", "15x", "-1s", "1s2"] {
            let error = parse_duration("--leader-election-retry-period", bad).unwrap_err();
            assert!(error.contains("--leader-election-retry-period"), "{error}");
        }
    }

    #[test]
    fn kubeflows_defaults_and_flags() {
        let defaults = check(&[]).unwrap();
        assert_eq!(defaults.leader_election, None);
        assert_eq!(defaults.metrics_address, None);
        assert_eq!(
            defaults.health_address,
            Some("0.0.0.0:8081".parse().unwrap())
        );
        let on = check(&[
            "--leader-election",
            "--metrics-bind-address=:8080",
            "--metrics-labels=team,app.kubernetes.io/name",
            "--metrics-prefix=acme",
        ])
        .unwrap();
        assert_eq!(on.leader_election, Some(Timings::default()));
        assert_eq!(on.metrics.labels, vec!["team", "app.kubernetes.io/name"]);
        assert_eq!(on.metrics.prefix, "acme");
        assert!(
            !on.metrics.spark_metrics,
            "only with --enable-metrics, as in Kubeflow"
        );
        let kubeflow = check(&[
            "--enable-metrics=true",
            "--metrics-prefix=",
            "--metrics-labels=app_type",
            "--metrics-job-submit-latency-buckets=0.5,1,2",
        ])
        .unwrap();
        assert!(kubeflow.metrics.spark_metrics);
        assert_eq!(kubeflow.metrics.labels, vec!["app_type"]);
        assert_eq!(
            kubeflow.metrics.job_submit_latency_buckets,
            vec![0.5, 1.0, 2.0]
        );
        let explicit = check(&[
            "--leader-election=true",
            "--leader-election-lease-duration=30s",
            "--leader-election-renew-deadline=20s",
            "--leader-election-retry-period=5s",
        ])
        .unwrap();
        assert_eq!(
            explicit.leader_election.unwrap().lease_duration,
            Duration::from_secs(30)
        );
        assert_eq!(
            check(&["--leader-election=false"]).unwrap().leader_election,
            None
        );
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let cases: [(&[&str], &str); 7] = [
            (
                &["--leader-election", "--leader-election-lease-duration=5s"],
                "renew-deadline",
            ),
            (
                &["--leader-election", "--leader-election-retry-period=often"],
                "--leader-election-retry-period",
            ),
            (
                &["--leader-election", "--leader-election-lock-name=Bad_Name"],
                "--leader-election-lock-name",
            ),
            (
                &["--metrics-bind-address=nowhere"],
                "--metrics-bind-address",
            ),
            (
                &["--metrics-job-start-latency-buckets=30,x"],
                "--metrics-job-start-latency-buckets",
            ),
            (&["--metrics-prefix=9"], "--metrics-prefix"),
            (&["--metrics-endpoint=metrics"], "--metrics-endpoint"),
        ];
        for (args, flag) in cases {
            let error = check(args).unwrap_err();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }
}
