//! What the operator did during a run, read from its own metrics endpoint: its requests to the API
//! server by method (`rest_client_requests_total`) and its reconciles
//! (`controller_runtime_reconcile_total`). Divided by the applications, they say where its CPU
//! per application goes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts of the operator's work, as totals since it started or as the difference of two.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Work {
    /// Requests by HTTP method; empty when the operator does not count them (an older binary).
    pub requests: BTreeMap<String, f64>,
    pub reconciles: f64,
}

impl Work {
    /// The counters in a Prometheus text exposition.
    pub fn parse(text: &str) -> Work {
        let mut work = Work::default();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if let Some(labels) = series.strip_prefix("rest_client_requests_total{") {
                let method = label(labels, "method").unwrap_or("?");
                *work.requests.entry(method.to_string()).or_default() += value;
            } else if series.starts_with("controller_runtime_reconcile_total{") {
                work.reconciles += value;
            }
        }
        work
    }

    /// What was done after `before` was read.
    pub fn since(&self, before: &Work) -> Work {
        let requests = self
            .requests
            .iter()
            .map(|(method, n)| {
                let earlier = before.requests.get(method).copied().unwrap_or(0.0);
                (method.clone(), n - earlier)
            })
            .collect();
        Work {
            requests,
            reconciles: self.reconciles - before.reconciles,
        }
    }

    pub fn total_requests(&self) -> f64 {
        self.requests.values().sum()
    }

    pub fn requests_by(&self, method: &str) -> f64 {
        self.requests.get(method).copied().unwrap_or(0.0)
    }
}

/// The value of `name="…"` among the labels of a series (no escaped quotes in the values read).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let length = labels[start..].find('"')?;
    Some(&labels[start..start + length])
}

/// The operator's counters now, from `GET /metrics` at `address`.
pub async fn read(address: SocketAddr) -> anyhow::Result<Work> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("the operator's metrics did not answer within 10 s")?
        .with_context(|| format!("reading the operator's metrics at {address}"))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(Work::parse(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE rest_client_requests_total counter
rest_client_requests_total{code=\"201\",host=\"127.0.0.1:1\",method=\"POST\"} 10
rest_client_requests_total{code=\"409\",host=\"127.0.0.1:1\",method=\"POST\"} 2
rest_client_requests_total{code=\"200\",host=\"127.0.0.1:1\",method=\"GET\"} 5
controller_runtime_reconcile_total{controller=\"sparkapplication\",result=\"success\"} 7
controller_runtime_reconcile_total{controller=\"sparkapplication\",result=\"error\"} 1
controller_runtime_reconcile_time_seconds_count{controller=\"sparkapplication\"} 8
";

    #[test]
    fn sums_requests_by_method_and_reconciles_over_results() {
        let work = Work::parse(BEFORE);
        assert_eq!(work.requests_by("POST"), 12.0);
        assert_eq!(work.requests_by("GET"), 5.0);
        assert_eq!(work.requests_by("PATCH"), 0.0);
        assert_eq!(work.total_requests(), 17.0);
        assert_eq!(work.reconciles, 8.0);
    }

    #[test]
    fn the_difference_is_the_work_of_the_run() {
        let after = BEFORE
            .replace("\"POST\"} 10", "\"POST\"} 110")
            .replace("\"success\"} 7", "\"success\"} 57")
            + "rest_client_requests_total{code=\"200\",host=\"h\",method=\"PATCH\"} 40\n";
        let run = Work::parse(&after).since(&Work::parse(BEFORE));
        assert_eq!(run.requests_by("POST"), 100.0);
        assert_eq!(run.requests_by("PATCH"), 40.0);
        assert_eq!(run.requests_by("GET"), 0.0);
        assert_eq!(run.reconciles, 50.0);
    }

    #[test]
    fn an_operator_without_the_request_counter_reports_none() {
        let work = Work::parse("controller_runtime_reconcile_total{result=\"success\"} 3\n");
        assert!(work.requests.is_empty());
        assert_eq!(work.reconciles, 3.0);
    }
}
