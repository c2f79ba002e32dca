//! Kubeflow's rate limit flags: `--kube-api-qps`/`--kube-api-burst` (the operator's requests to
//! the API server, both commands) and `--workqueue-ratelimiter-*` (reconciles requeued after
//! failures, `controller start`), read into the limits `runtime::throttle` and
//! `controller::backoff` enforce.

use clap::Args;

use super::go_values::duration;
use crate::controller::backoff::RequeueLimits;
use crate::runtime::throttle::ApiRateLimit;

#[derive(Debug, Clone, Args)]
pub struct KubeApiFlags {
    /// Requests a second the operator makes to the API server at most, on average (Kubeflow's
    /// chart passes 20). Default: no limit.
    #[arg(long)]
    pub kube_api_qps: Option<f64>,
    /// Requests it may make at once above that rate (Kubeflow's chart passes 30). Default: the
    /// QPS, rounded up.
    #[arg(long)]
    pub kube_api_burst: Option<u32>,
}

impl KubeApiFlags {
    /// The limit, if any, or the flag that is wrong. A QPS of 0 (or less) is no limit.
    pub fn limit(&self) -> Result<Option<ApiRateLimit>, String> {
        let Some(qps) = self.kube_api_qps.filter(|qps| *qps > 0.0) else {
            return Ok(None);
        };
        if !qps.is_finite() {
            return Err(format!(
                "--kube-api-qps {qps} is not a number of requests a second"
            ));
        }
        let burst = self.kube_api_burst.unwrap_or(qps.ceil() as u32).max(1);
        Ok(Some(ApiRateLimit { qps, burst }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkqueueFlags {
    /// Requeues after failures a second, shared by every application (a token bucket).
    #[arg(long, default_value_t = 10)]
    pub workqueue_ratelimiter_bucket_qps: u32,
    /// Requeues after failures the bucket lets through at once.
    #[arg(long, default_value_t = 100)]
    pub workqueue_ratelimiter_bucket_size: u32,
    /// No requeue after a failure waits longer than this (e.g. 6h). Default: no cap.
    #[arg(long)]
    pub workqueue_ratelimiter_max_delay: Option<String>,
}

impl WorkqueueFlags {
    pub fn limits(&self) -> Result<RequeueLimits, String> {
        if self.workqueue_ratelimiter_bucket_qps == 0 {
            return Err("--workqueue-ratelimiter-bucket-qps must be at least 1".into());
        }
        if self.workqueue_ratelimiter_bucket_size == 0 {
            return Err("--workqueue-ratelimiter-bucket-size must be at least 1".into());
        }
        let max_delay = self
            .workqueue_ratelimiter_max_delay
            .as_deref()
            .map(|d| duration("--workqueue-ratelimiter-max-delay", d))
            .transpose()?;
        Ok(RequeueLimits {
            bucket_qps: f64::from(self.workqueue_ratelimiter_bucket_qps),
            bucket_size: self.workqueue_ratelimiter_bucket_size,
            max_delay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        api: KubeApiFlags,
        #[command(flatten)]
        queue: WorkqueueFlags,
    }

    fn parse(args: &[&str]) -> Cli {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn kubeflows_chart_values_become_limits() {
        let cli = parse(&[
            "--kube-api-qps=20",
            "--kube-api-burst=30",
            "--workqueue-ratelimiter-bucket-qps=50",
            "--workqueue-ratelimiter-bucket-size=500",
            "--workqueue-ratelimiter-max-delay=6h",
        ]);
        assert_eq!(
            cli.api.limit(),
            Ok(Some(ApiRateLimit {
                qps: 20.0,
                burst: 30
            }))
        );
        assert_eq!(
            cli.queue.limits(),
            Ok(RequeueLimits {
                bucket_qps: 50.0,
                bucket_size: 500,
                max_delay: Some(Duration::from_secs(6 * 3600)),
            })
        );
        let none = parse(&[]);
        assert_eq!(none.api.limit(), Ok(None));
        assert_eq!(none.queue.limits(), Ok(RequeueLimits::default()));
        assert_eq!(
            parse(&["--kube-api-qps=2.5"]).api.limit(),
            Ok(Some(ApiRateLimit { qps: 2.5, burst: 3 }))
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let error = parse(&["--workqueue-ratelimiter-max-delay=forever"])
            .queue
            .limits()
            .unwrap_err();
        assert!(
            error.contains("--workqueue-ratelimiter-max-delay"),
            "{error}"
        );
        let error = parse(&["--workqueue-ratelimiter-bucket-qps=0"])
            .queue
            .limits()
            .unwrap_err();
        assert!(error.contains("bucket-qps"), "{error}");
    }
}
