//! Admission latency: SparkApplication creates through the local cluster at a fixed rate, once
//! with the operator's validating webhook registered and once without, so the webhook's share of a
//! create (an HTTPS AdmissionReview to the operator and back) is seen at load.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::time::Instant;

use crate::procs::{self, Binaries};
use crate::report::percentile;
use crate::workload;

const NAMESPACES: usize = 10;

/// Latencies (ms, sorted) of `n` creates at `rate` per second over `clients` clients.
pub async fn measure(
    bins: &Binaries,
    work: &Path,
    n: usize,
    rate: f64,
    clients: usize,
    webhook: bool,
) -> anyhow::Result<Vec<f64>> {
    let kubeconfig = work.join("kubeconfig");
    let cluster = procs::start_cluster(bins, work, &kubeconfig).await?;
    let port = procs::free_local_address()?.port().to_string();
    let url = format!("https://127.0.0.1:{port}");
    let flags: Vec<&str> = if webhook {
        vec![
            "--enable-webhook",
            "--webhook-port",
            &port,
            "--webhook-url",
            &url,
            "--webhook-secret-namespace",
            "default",
            "--webhook-service-namespace",
            "default",
        ]
    } else {
        Vec::new()
    };
    let operator = procs::start_operator_with(bins, work, &kubeconfig, &flags)?;
    let observer = workload::client(&kubeconfig).await?;
    workload::wait_served(&observer, 60).await?;
    if webhook {
        wait_denying(&observer).await?;
    }
    workload::create_namespaces(&observer, NAMESPACES).await?;
    let mut writers = Vec::new();
    for _ in 0..clients.max(1) {
        writers.push(workload::client(&kubeconfig).await?);
    }
    let latencies = timed_creates(&writers, n, rate).await;
    operator.stop().await;
    cluster.stop().await;
    let mut latencies = latencies?;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Waits until the webhook is registered and answering: an invalid application is denied.
async fn wait_denying(client: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut invalid = workload::application("invalid", "default", 1);
    invalid.data["spec"]["driver"]["memory"] = serde_json::json!("lots");
    let api = Api::namespaced_with(client.clone(), "default", &workload::app_resource());
    loop {
        match api.create(&PostParams::default(), &invalid).await {
            Err(kube::Error::Api(status)) if status.message.contains("denied the request") => {
                return Ok(());
            }
            Ok(created) => {
                let _ = api.delete(&created.name_any(), &Default::default()).await;
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("the validating webhook did not start denying invalid applications within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn timed_creates(clients: &[Client], n: usize, rate: f64) -> anyhow::Result<Vec<f64>> {
    let workers = clients.len();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (k..n).step_by(workers) {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let app = workload::application(
                    &workload::name(i),
                    &workload::namespace(i, NAMESPACES),
                    // The smallest valid application: validation refuses no executors.
                    1,
                );
                let api = Api::namespaced_with(
                    client.clone(),
                    &workload::namespace(i, NAMESPACES),
                    &workload::app_resource(),
                );
                let sent = Instant::now();
                api.create(&PostParams::default(), &app)
                    .await
                    .with_context(|| format!("creating application {i}"))?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// The markdown section: creates without and with the webhook, at the same rate.
pub fn section(n: usize, rate: f64, without: &[f64], with: &[f64]) -> String {
    let row = |name: &str, values: &[f64]| {
        let p = |q| percentile(values, q).map_or("-".into(), |v: f64| format!("{v:.2}"));
        format!(
            "| {name} | {} | {} | {} |\n",
            values.len(),
            p(50.0),
            p(99.0)
        )
    };
    format!(
        "Admission: {n} SparkApplication creates at {rate:.0}/s, create latency (ms):\n\n\
         | validating webhook | creates | p50 | p99 |\n|---|---:|---:|---:|\n{}{}",
        row("none", without),
        row("the operator's", with)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_lists_both_runs() {
        let text = section(3, 500.0, &[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        assert!(text.contains("| none | 3 | 2.00 | 3.00 |"), "{text}");
        assert!(
            text.contains("| the operator's | 3 | 4.00 | 6.00 |"),
            "{text}"
        );
    }
}
