//! `spark-bench --cluster`: the local cluster's own throughput, with no operator. A fresh
//! `localcluster` process (plain HTTP) takes ConfigMap creates, updates (PUT) and merge patches
//! from a few concurrent clients as fast as they go, then paced creates while 1, 10, 100 … watchers
//! watch their namespace; the delivery latency of an event is the time from the write's answer
//! reaching its writer to the event reaching a watcher, both seen by this process's clock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::procs::{self, Binaries, Process};
use crate::report::percentile;
use crate::workload;

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Benchmark the local cluster alone (writes per second and watch delivery latency) instead
    /// of the operator; writes cluster.md under --out. Uses --clients.
    #[arg(long)]
    pub cluster: bool,
    /// ConfigMaps created, then updated, then patched, by --cluster.
    #[arg(long, default_value_t = 5000)]
    pub cluster_objects: usize,
    /// Numbers of concurrent watchers for the delivery latency of --cluster, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 100])]
    pub cluster_watchers: Vec<usize>,
    /// Creates watched in each of those runs.
    #[arg(long, default_value_t = 2000)]
    pub cluster_watched_writes: usize,
    /// Their pace, per second (below the write ceiling, so the figure is delivery, not queueing).
    #[arg(long, default_value_t = 200.0)]
    pub cluster_watched_rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Percentiles {
        values.sort_by(f64::total_cmp);
        Percentiles {
            p50: percentile(&values, 50.0).unwrap_or(0.0),
            p99: percentile(&values, 99.0).unwrap_or(0.0),
            max: values.last().copied().unwrap_or(0.0),
        }
    }
}

/// One kind of write, done as fast as the clients go.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFigures {
    pub kind: &'static str,
    pub objects: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cluster_cpu_secs: f64,
    /// CPU of the bench's own process (its kube-rs clients) per write, in µs: what one request
    /// costs a client, the floor under an operator's cost per request.
    pub client_cpu_us: f64,
}

/// Watch delivery with a number of watchers.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchFigures {
    pub watchers: usize,
    pub writes: usize,
    /// Events that reached a watcher, of `watchers * writes` expected.
    pub delivered: usize,
    /// Events that reached a watcher before the write's answer reached its writer.
    pub before_answer: usize,
    /// From the answer reaching the writer to the event reaching a watcher; negative when the
    /// event came first (both race over separate connections).
    pub after_answer_ms: Percentiles,
    /// From the write being sent to the event reaching a watcher.
    pub after_send_ms: Percentiles,
    pub cluster_cpu_secs: f64,
}

pub async fn run(
    args: &ClusterArgs,
    clients: usize,
    out: &Path,
    keep_logs: bool,
) -> anyhow::Result<()> {
    let bins = localcluster_binary()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "machine: {cores} cores; commit {}; {clients} writing clients; binary {}",
        crate::commit(),
        bins.localcluster.display()
    );
    println!("{header}");
    let work = std::env::temp_dir().join(format!("spark-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    println!("process logs in {}", work.display());
    let kubeconfig = work.join("kubeconfig");
    let cluster = procs::start_cluster(&bins, &work, &kubeconfig).await?;
    let mut writers = Vec::new();
    for _ in 0..clients.max(1) {
        writers.push(workload::client(&kubeconfig).await?);
    }
    let result = measure(&cluster, &writers, args).await;
    cluster.stop().await;
    if !keep_logs {
        let _ = std::fs::remove_dir_all(&work);
    }
    let (writes, watches) = result?;
    let markdown = format!(
        "# spark-bench --cluster results\n\n{header}\n\n{}",
        section(&writes, &watches, clients, args.cluster_watched_rate)
    );
    println!("\n{markdown}");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("cluster.md");
    std::fs::write(&path, markdown).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The `localcluster` binary, where `Binaries::find` looks (the operator is not needed).
fn localcluster_binary() -> anyhow::Result<Binaries> {
    let localcluster = procs::find_dir(&["localcluster"])?.join("localcluster");
    Ok(Binaries {
        localcluster,
        operator: PathBuf::new(),
    })
}

async fn measure(
    cluster: &Process,
    writers: &[Client],
    args: &ClusterArgs,
) -> anyhow::Result<(Vec<WriteFigures>, Vec<WatchFigures>)> {
    let n = args.cluster_objects;
    create_namespace(&writers[0], "cluster-writes").await?;
    println!("== {n} creates, {} clients", writers.len());
    let (creates, created) = timed_writes(cluster, writers, "create", n, |api, i| {
        let object = config_map(&format!("cm-{i:06}"), "created");
        async move { api.create(&PostParams::default(), &object).await }
    })
    .await?;
    let created = &created;
    println!("== {n} updates (PUT)");
    let (updates, _) = timed_writes(cluster, writers, "update (PUT)", n, |api, i| {
        // The created object, with its resourceVersion: an update that would lose no write.
        let mut object = created[i].clone();
        object.data = Some([("value".to_string(), padded("updated"))].into());
        async move {
            api.replace(&object.name_any(), &PostParams::default(), &object)
                .await
        }
    })
    .await?;
    println!("== {n} merge patches");
    let (patches, _) = timed_writes(cluster, writers, "merge patch", n, |api, i| {
        let patch = json!({"data": {"value": padded("patched")}});
        async move {
            api.patch(
                &format!("cm-{i:06}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        }
    })
    .await?;

    let mut watches = Vec::new();
    for &count in &args.cluster_watchers {
        println!(
            "== {} creates at {}/s, {count} watcher(s)",
            args.cluster_watched_writes, args.cluster_watched_rate
        );
        watches.push(watched_writes(cluster, writers, count, args).await?);
    }
    Ok((vec![creates, updates, patches], watches))
}

fn padded(word: &str) -> String {
    // About the size of a small configuration value.
    format!("{word}-{}", "x".repeat(100))
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    let mut object = ConfigMap::default();
    object.metadata.name = Some(name.to_string());
    object.data = Some([("value".to_string(), padded(value))].into());
    object
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.to_string());
    api.create(&PostParams::default(), &namespace)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// `n` writes of object `i` by client `i mod clients`, each client one request at a time, as fast
/// as they go; the answers, in order of `i`.
async fn timed_writes<F, Fut>(
    cluster: &Process,
    writers: &[Client],
    kind: &'static str,
    n: usize,
    write: F,
) -> anyhow::Result<(WriteFigures, Vec<ConfigMap>)>
where
    F: Fn(Api<ConfigMap>, usize) -> Fut + Clone,
    Fut: Future<Output = kube::Result<ConfigMap>>,
{
    let cpu_before = cluster.usage()?.cpu_secs;
    let client_cpu_before = procs::own_cpu_secs();
    let start = Instant::now();
    let runs = writers.iter().enumerate().map(|(k, client)| {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "cluster-writes");
        let write = write.clone();
        let count = writers.len();
        async move {
            let mut done = Vec::new();
            for i in (k..n).step_by(count) {
                let sent = Instant::now();
                let object = write(api.clone(), i)
                    .await
                    .with_context(|| format!("{kind} of cm-{i:06}"))?;
                done.push((i, object, sent.elapsed().as_secs_f64() * 1000.0));
            }
            anyhow::Ok(done)
        }
    });
    let per_client = futures::future::try_join_all(runs).await?;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cluster.usage()?.cpu_secs - cpu_before;
    let client_cpu = procs::own_cpu_secs() - client_cpu_before;
    let mut done: Vec<(usize, ConfigMap, f64)> = per_client.into_iter().flatten().collect();
    done.sort_by_key(|(i, _, _)| *i);
    let latencies: Vec<f64> = done.iter().map(|(_, _, ms)| *ms).collect();
    let figures = write_figures(kind, &latencies, wall, cpu, client_cpu);
    println!(
        "   {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        figures.per_sec, figures.p50_ms, figures.p99_ms
    );
    Ok((figures, done.into_iter().map(|(_, o, _)| o).collect()))
}

/// Throughput and latency of writes that took `wall` seconds in all.
pub fn write_figures(
    kind: &'static str,
    latencies_ms: &[f64],
    wall: f64,
    cpu: f64,
    client_cpu: f64,
) -> WriteFigures {
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    WriteFigures {
        kind,
        objects: sorted.len(),
        per_sec: if wall > 0.0 {
            sorted.len() as f64 / wall
        } else {
            0.0
        },
        p50_ms: percentile(&sorted, 50.0).unwrap_or(0.0),
        p99_ms: percentile(&sorted, 99.0).unwrap_or(0.0),
        cluster_cpu_secs: cpu,
        client_cpu_us: client_cpu * 1e6 / sorted.len().max(1) as f64,
    }
}

/// Names of the objects a watcher saw created, with when each event reached it.
type Seen = Vec<(String, Instant)>;

/// Paced creates in a fresh namespace that `watchers` watchers watch.
async fn watched_writes(
    cluster: &Process,
    writers: &[Client],
    watchers: usize,
    args: &ClusterArgs,
) -> anyhow::Result<WatchFigures> {
    let namespace = format!("watched-{watchers}");
    create_namespace(&writers[0], &namespace).await?;
    let api: Api<ConfigMap> = Api::namespaced(writers[0].clone(), &namespace);
    let from = api
        .list_metadata(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    // Watchers share one client (a connection each, as many informers of one process do).
    let ready = Arc::new(AtomicUsize::new(0));
    let watch_client = writers[0].clone();
    let tasks: Vec<_> = (0..watchers)
        .map(|_| {
            let api: Api<ConfigMap> = Api::namespaced(watch_client.clone(), &namespace);
            tokio::spawn(watch_until_end(api, from.clone(), ready.clone()))
        })
        .collect();
    // Every watcher has seen this before anything is timed.
    api.create(&PostParams::default(), &config_map("ready", "ready"))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::SeqCst) < watchers {
        if Instant::now() > deadline {
            bail!("the watchers did not all start within 60s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let cpu_before = cluster.usage()?.cpu_secs;
    let answered = paced_creates(writers, &namespace, args).await?;
    let cpu = cluster.usage()?.cpu_secs - cpu_before;
    api.create(&PostParams::default(), &config_map("end", "end"))
        .await?;
    let mut seen = Vec::new();
    for task in tasks {
        let watched = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .context("a watcher did not see the last create within 60s")???;
        seen.push(watched);
    }
    let figures = watch_figures(watchers, &answered, &seen, cpu);
    println!(
        "   delivered {} of {}, after the answer p50 {:.2} ms, p99 {:.2} ms",
        figures.delivered,
        watchers * answered.len(),
        figures.after_answer_ms.p50,
        figures.after_answer_ms.p99
    );
    Ok(figures)
}

async fn watch_until_end(
    api: Api<ConfigMap>,
    from: String,
    ready: Arc<AtomicUsize>,
) -> anyhow::Result<Seen> {
    let params = WatchParams::default().timeout(290);
    let mut events = api.watch(&params, &from).await?.boxed();
    let mut seen = Vec::new();
    while let Some(event) = events.try_next().await? {
        let at = Instant::now();
        match event {
            WatchEvent::Added(object) => match object.name_any().as_str() {
                "ready" => {
                    ready.fetch_add(1, Ordering::SeqCst);
                }
                "end" => return Ok(seen),
                name => seen.push((name.to_string(), at)),
            },
            WatchEvent::Error(status) => bail!("watch error: {}", status.message),
            _ => {}
        }
    }
    bail!("the watch ended before the last create")
}

/// When a write was sent, and when its answer reached the writer.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub sent: Instant,
    pub answered: Instant,
}

/// Creates at `cluster_watched_rate` per second, dealt over the clients.
async fn paced_creates(
    writers: &[Client],
    namespace: &str,
    args: &ClusterArgs,
) -> anyhow::Result<HashMap<String, Written>> {
    let (n, rate) = (args.cluster_watched_writes, args.cluster_watched_rate);
    let start = Instant::now();
    let runs = writers.iter().enumerate().map(|(k, client)| {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let count = writers.len();
        async move {
            let mut answered = Vec::new();
            for i in (k..n).step_by(count) {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let name = format!("w-{i:06}");
                let sent = Instant::now();
                api.create(&PostParams::default(), &config_map(&name, "watched"))
                    .await
                    .with_context(|| format!("creating {name}"))?;
                let answered_at = Instant::now();
                answered.push((
                    name,
                    Written {
                        sent,
                        answered: answered_at,
                    },
                ));
            }
            anyhow::Ok(answered)
        }
    });
    let per_client = futures::future::try_join_all(runs).await?;
    Ok(per_client.into_iter().flatten().collect())
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(from.duration_since(to).as_secs_f64() * 1000.0),
    }
}

/// Delivery latencies of every watcher's events of the written objects.
pub fn watch_figures(
    watchers: usize,
    written: &HashMap<String, Written>,
    seen: &[Seen],
    cpu: f64,
) -> WatchFigures {
    let (after_answer, after_send): (Vec<f64>, Vec<f64>) = seen
        .iter()
        .flatten()
        .filter_map(|(name, at)| {
            let write = written.get(name)?;
            Some((signed_ms(write.answered, *at), signed_ms(write.sent, *at)))
        })
        .unzip();
    WatchFigures {
        watchers,
        writes: written.len(),
        delivered: after_answer.len(),
        before_answer: after_answer.iter().filter(|ms| **ms < 0.0).count(),
        after_answer_ms: Percentiles::of(after_answer),
        after_send_ms: Percentiles::of(after_send),
        cluster_cpu_secs: cpu,
    }
}

/// The markdown of the results.
pub fn section(
    writes: &[WriteFigures],
    watches: &[WatchFigures],
    clients: usize,
    rate: f64,
) -> String {
    let mut text = format!(
        "Writes of small ConfigMaps by {clients} clients, each one request at a time, as fast as \
         they go (latency: request sent to answer received; client CPU: the bench's own \
         process, its kube-rs clients on a 2-thread runtime):\n\n\
         | write | objects | objects/s | p50 ms | p99 ms | cluster CPU s | client CPU per write µs |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    for w in writes {
        text.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |\n",
            w.kind, w.objects, w.per_sec, w.p50_ms, w.p99_ms, w.cluster_cpu_secs, w.client_cpu_us
        ));
    }
    text.push_str(&format!(
        "\nWatch delivery: creates at {rate}/s while N watchers watch the namespace. *After the \
         answer*: from the create's answer reaching its writer to the ADDED event reaching a \
         watcher (negative when the event came first); *after sending*: from the create being \
         sent to the event reaching a watcher:\n\n\
         | watchers | creates | events delivered | event before answer | after the answer p50 / p99 / max ms | after sending p50 / p99 / max ms | cluster CPU s |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n"
    ));
    for w in watches {
        let (a, s) = (w.after_answer_ms, w.after_send_ms);
        text.push_str(&format!(
            "| {} | {} | {} of {} | {:.0} % | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.2} |\n",
            w.watchers,
            w.writes,
            w.delivered,
            w.watchers * w.writes,
            100.0 * w.before_answer as f64 / w.delivered.max(1) as f64,
            a.p50,
            a.p99,
            a.max,
            s.p50,
            s.p99,
            s.max,
            w.cluster_cpu_secs
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_figures_are_rate_and_percentiles() {
        let latencies: Vec<f64> = (1..=100).map(f64::from).collect();
        let figures = write_figures("create", &latencies, 2.0, 0.5, 0.004);
        assert_eq!(figures.objects, 100);
        assert_eq!(figures.per_sec, 50.0);
        assert_eq!(figures.client_cpu_us, 40.0);
        assert_eq!((figures.p50_ms, figures.p99_ms), (50.0, 99.0));
    }

    #[test]
    fn delivery_is_measured_from_each_answer_and_each_send() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let ms = Duration::from_millis;
        let written = HashMap::from([
            (
                "a".to_string(),
                Written {
                    sent: t0,
                    answered: t0 + ms(3),
                },
            ),
            (
                "b".to_string(),
                Written {
                    sent: t0 + ms(10),
                    answered: t0 + ms(12),
                },
            ),
        ]);
        let first = vec![
            ("a".to_string(), t0 + ms(2)),
            ("b".to_string(), t0 + ms(15)),
        ];
        let second = vec![("a".to_string(), t0 + ms(7)), ("other".to_string(), t0)];
        let figures = watch_figures(2, &written, &[first, second], 0.0);
        assert_eq!(figures.delivered, 3, "unknown names are not counted");
        assert_eq!(figures.before_answer, 1);
        let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(near(figures.after_answer_ms.p50, 3.0), "{figures:?}");
        assert!(near(figures.after_answer_ms.max, 4.0), "{figures:?}");
        assert!(near(figures.after_send_ms.p50, 5.0), "{figures:?}");
        assert!(near(figures.after_send_ms.max, 7.0), "{figures:?}");
        let table = section(&[], &[figures], 4, 200.0);
        assert!(table.contains("| 2 | 2 | 3 of 4 | 33 % |"), "{table}");
    }
}
