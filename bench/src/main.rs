//! `spark-bench`: the operator's submission benchmark. For each N it starts a fresh
//! local cluster and a fresh operator as child processes, creates N SparkApplications whose drivers
//! run for zero seconds (as fast as the clients go, then once more at a steady pace), and measures create-to-driver-pod latency, submissions per second, time
//! until all COMPLETED, and the operator's CPU seconds and peak RSS. See bench/README.md.

mod admission;
mod baseline;
mod cluster;
mod floor;
mod operator_work;
mod plot;
mod procs;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use kube::api::PostParams;

use procs::{Binaries, Usage};
use report::SizeResult;
use workload::Observed;

#[derive(Debug, Clone, Parser)]
#[command(about = "Benchmark of the operator's native submission on the local cluster")]
struct Args {
    /// Numbers of applications, one fresh cluster and operator each.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000, 10000])]
    sizes: Vec<usize>,
    /// Where results.md and plot.png are written.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Concurrent clients creating the objects (each one request at a time).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Namespaces the applications are dealt over, round-robin (see bench/README.md for why).
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    /// Create the applications at this many per second instead of as fast as the clients can
    /// (to see the latency of an operator that is not queueing).
    #[arg(long)]
    rate: Option<f64>,
    /// Executors of each application (a Spark application has at least one).
    #[arg(long, default_value_t = 1)]
    executors: u32,
    /// After the sizes, `--paced-size` applications created at this many per second: the
    /// latency of an operator that keeps up (0: no paced run).
    #[arg(long, default_value_t = 200.0)]
    paced_rate: f64,
    #[arg(long, default_value_t = 1000)]
    paced_size: usize,
    /// Give up on a size when its applications have not all ended after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
    /// Applications run once more with `--submitter spark-submit`, for the comparison (0: none).
    /// Needs Spark (SPARK_HOME or `pip install pyspark==4.0.1`).
    #[arg(long, default_value_t = 100)]
    spark_submit_size: usize,
    /// SparkApplication creates timed through the validating webhook, and without it (0: none).
    #[arg(long, default_value_t = 5000)]
    admission_size: usize,
    /// The pace of those creates, per second.
    #[arg(long, default_value_t = 500.0)]
    admission_rate: f64,
    /// Keep the logs of the cluster and the operator (in a temporary folder) after the run.
    #[arg(long)]
    keep_logs: bool,
    /// Instead of the full run: the sizes with this other operator binary (an older commit's)
    /// and with the current one, alternately, `--rounds` times each, against the same local
    /// cluster binary; writes baseline.md under --out.
    #[arg(long)]
    baseline_operator: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// After the sizes, the floor client (the operator's requests and watches without its
    /// decisions; see bench/README.md) on a burst of this many applications (0: none).
    #[arg(long, default_value_t = 1000)]
    floor_size: usize,
    /// Run as that floor client against the cluster of this kubeconfig (the bench starts it).
    #[arg(long, hide = true)]
    floor_client: Option<PathBuf>,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Built with the whole workspace, the bench links two rustls providers and rustls would
    // choose neither.
    spark_operator::runtime::install_crypto_provider();
    if let Some(kubeconfig) = &args.floor_client {
        return floor::client_main(kubeconfig);
    }
    tokio::runtime::Runtime::new()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.cluster.cluster {
        return cluster::run(&args.cluster, args.clients, &args.out, args.keep_logs).await;
    }
    let bins = Binaries::find()?;
    let baseline = args
        .baseline_operator
        .as_deref()
        .map(|other| baseline::binaries(&bins, other))
        .transpose()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = commit();
    let header = format!(
        "machine: {cores} cores; commit {commit}; clients {}{}; namespaces {}; executors per \
         application {}; binaries {} and {}",
        args.clients,
        args.rate
            .map_or(String::new(), |r| format!(" paced at {r} creates/s")),
        args.namespaces,
        args.executors,
        bins.localcluster.display(),
        bins.operator.display()
    );
    println!("{header}");
    let work = std::env::temp_dir().join(format!("spark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    println!("process logs in {}", work.display());

    if let Some(baseline) = &baseline {
        println!("baseline operator: {}", baseline.operator.display());
        return compare_with_baseline(&bins, baseline, &args, &work, &header).await;
    }

    let mut results = Vec::new();
    for &n in &args.sizes {
        println!("\n== N = {n}");
        match run_size(&bins, &args, n, &work, "native").await {
            Ok(result) => {
                let one = std::slice::from_ref(&result);
                println!(
                    "{}\n{}",
                    report::markdown_table(one),
                    report::work_table(one)
                );
                results.push(result);
            }
            Err(error) => {
                eprintln!("N = {n} failed: {error:#}");
                return Err(error);
            }
        }
    }
    if args.paced_rate > 0.0 && args.rate.is_none() && args.paced_size > 0 {
        let (n, rate) = (args.paced_size, args.paced_rate);
        println!("\n== N = {n}, paced at {rate} creates/s");
        let paced = Args {
            rate: Some(rate),
            ..args.clone()
        };
        let result = run_size(&bins, &paced, n, &work, "native").await?;
        println!("{}", report::markdown_table(std::slice::from_ref(&result)));
        results.push(result);
    }

    let table = report::markdown_table(&results);
    let work_table = report::work_table(&results);
    let targets = report::targets(&results);
    let floor = floor_section(&bins, &args, &work, &results).await?;
    let comparison = compare_spark_submit(&bins, &args, &work, &results).await?;
    let admission = if args.admission_size == 0 {
        "Admission: not run (--admission-size 0).\n".to_string()
    } else {
        let (n, rate) = (args.admission_size, args.admission_rate);
        println!("\n== admission, {n} creates at {rate}/s, without the webhook");
        let without = admission::measure(&bins, &work, n, rate, args.clients.max(8), false).await?;
        println!("== admission, {n} creates at {rate}/s, through the validating webhook");
        let with = admission::measure(&bins, &work, n, rate, args.clients.max(8), true).await?;
        admission::section(n, rate, &without, &with)
    };
    println!("\n{header}\n\n{table}\n{work_table}\n{floor}\n{targets}\n{comparison}\n{admission}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let markdown = format!(
        "# spark-bench results\n\n{header}\n\nNative submission:\n\n{table}\nThe operator's work \
         per application (its own counters: requests to the API server, reconciles):\n\n\
         {work_table}\n{floor}\nTargets:\n\n{targets}\n{comparison}\n{admission}"
    );
    let md_path = args.out.join("results.md");
    std::fs::write(&md_path, markdown).with_context(|| format!("writing {}", md_path.display()))?;
    let png_path = args.out.join("plot.png");
    // The plot is of the bursts against N; a paced run is a point of another curve.
    let bursts: Vec<SizeResult> = results
        .iter()
        .filter(|r| r.paced.is_none())
        .cloned()
        .collect();
    let with_text = plot::draw(&bursts, &png_path)?;
    println!(
        "wrote {} and {}{}",
        md_path.display(),
        png_path.display(),
        if with_text {
            ""
        } else {
            " (no font found: drawn without text)"
        }
    );
    if !args.keep_logs {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// The floor client at `--floor-size`, beside the operator's burst of that size when there was one.
async fn floor_section(
    bins: &Binaries,
    args: &Args,
    work: &Path,
    native: &[SizeResult],
) -> anyhow::Result<String> {
    let n = args.floor_size;
    if n == 0 {
        return Ok("The floor: not run (--floor-size 0).\n".into());
    }
    println!("\n== the floor, N = {n}");
    let timeout = Duration::from_secs(args.timeout_seconds);
    let floor = floor::measure(
        bins,
        work,
        n,
        args.clients,
        args.namespaces,
        args.executors,
        timeout,
    )
    .await?;
    let operator = native
        .iter()
        .find(|r| r.n == n && r.paced.is_none())
        .map(|r| r.operator_cpu_secs * 1000.0 / n as f64);
    let section = floor::section(&floor, operator);
    println!("{section}");
    Ok(section)
}

/// The sizes run alternately by the baseline operator and the current one, `--rounds` times.
async fn compare_with_baseline(
    current: &Binaries,
    baseline: &Binaries,
    args: &Args,
    work: &Path,
    header: &str,
) -> anyhow::Result<()> {
    let mut rounds = Vec::new();
    for &n in &args.sizes {
        for round in 1..=args.rounds.max(1) {
            println!("\n== N = {n}, round {round}: baseline");
            let before = run_size(baseline, args, n, work, "native").await?;
            println!("== N = {n}, round {round}: current");
            let after = run_size(current, args, n, work, "native").await?;
            rounds.push(baseline::Round {
                n,
                baseline: before,
                current: after,
            });
        }
    }
    let table = baseline::markdown(&rounds);
    let text = format!(
        "{header}\nbaseline operator: {}\n\n{table}",
        baseline.operator.display()
    );
    println!("\n{text}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("baseline.md");
    std::fs::write(
        &path,
        format!("# spark-bench: against a baseline operator\n\n{text}"),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    if !args.keep_logs {
        let _ = std::fs::remove_dir_all(work);
    }
    Ok(())
}

/// `git rev-parse --short HEAD`, marked when tracked files differ from it.
fn commit() -> String {
    let git = |args: &[&str]| std::process::Command::new("git").args(args).output().ok();
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown (not a git checkout)".into();
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let dirty = git(&["diff-index", "--quiet", "HEAD", "--"]).is_some_and(|o| !o.status.success());
    if dirty {
        format!("{head} plus uncommitted changes")
    } else {
        head
    }
}

async fn clients(kubeconfig: &Path, count: usize) -> anyhow::Result<Vec<kube::Client>> {
    let mut clients = Vec::new();
    for _ in 0..count.max(1) {
        clients.push(workload::client(kubeconfig).await?);
    }
    Ok(clients)
}

/// One size: the cluster's ceiling on a fresh cluster, then the applications on another fresh
/// cluster with a fresh operator.
async fn run_size(
    bins: &Binaries,
    args: &Args,
    n: usize,
    work: &Path,
    submitter: &str,
) -> anyhow::Result<SizeResult> {
    let kubeconfig = work.join("kubeconfig");
    let cluster = procs::start_cluster(bins, work, &kubeconfig).await?;
    let writers = clients(&kubeconfig, args.clients).await?;
    workload::create_namespaces(&writers[0], args.namespaces).await?;
    let ceiling = workload::write_ceiling(&writers, n, args.namespaces).await?;
    println!(
        "cluster ceiling, no operator: {ceiling:.0} ConfigMaps/s ({n} creates, {} clients)",
        args.clients
    );
    drop(writers);
    cluster.stop().await;

    let mut cluster = procs::start_cluster(bins, work, &kubeconfig).await?;
    let mut operator = procs::start_operator(bins, work, &kubeconfig, submitter)?;
    let observer = workload::client(&kubeconfig).await?;
    let served = workload::wait_served(&observer, 60).await;
    operator.check_alive(&work.join("spark-operator.log"))?;
    served?;
    let observed = Arc::new(std::sync::Mutex::new(Observed::default()));
    let watches = [
        workload::watch_drivers(observer.clone(), observed.clone()),
        workload::watch_ends(observer.clone(), observed.clone()),
    ];
    let writers = clients(&kubeconfig, args.clients).await?;
    workload::create_namespaces(&writers[0], args.namespaces).await?;
    warm_up(&writers[0], &observed, args.executors).await?;

    let work_before = read_work(&operator).await?;
    let operator_before = operator.usage()?;
    let cluster_before = cluster.usage()?;
    let writes_before = workload::resource_version(&observer).await?;
    let bench_before = procs::own_cpu_secs();
    let start = Instant::now();
    let created =
        workload::create_apps(&writers, n, args.namespaces, args.executors, args.rate).await?;
    let created_secs = created
        .iter()
        .max()
        .map_or(0.0, |t| t.duration_since(start).as_secs_f64());
    println!("created {n} applications in {created_secs:.2}s");

    let deadline = start + Duration::from_secs(args.timeout_seconds);
    let mut last_report = Instant::now();
    loop {
        let (drivers, ended) = {
            let seen = observed.lock().expect("not poisoned");
            (seen.drivers.len(), seen.ended.len())
        };
        // The warm-up application counts in both.
        if ended > n || Instant::now() >= deadline {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            println!(
                "  {:.0}s: {} driver pods, {} ended",
                start.elapsed().as_secs_f64(),
                drivers.saturating_sub(1),
                ended.saturating_sub(1)
            );
        }
        operator.check_alive(&work.join("spark-operator.log"))?;
        cluster.check_alive(&work.join("localcluster.log"))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let operator_after = operator.usage()?;
    let cluster_after = cluster.usage()?;
    let writes_after = workload::resource_version(&observer).await?;
    let work_after = read_work(&operator).await?;
    println!(
        "CPU seconds during the run: operator {:.2}, cluster {:.2}, this bench {:.2}",
        operator_after.cpu_secs - operator_before.cpu_secs,
        cluster_after.cpu_secs - cluster_before.cpu_secs,
        procs::own_cpu_secs() - bench_before
    );
    for watch in watches {
        watch.abort();
    }
    operator.stop().await;
    cluster.stop().await;

    let seen = std::mem::take(&mut *observed.lock().expect("not poisoned"));
    let result = summarize(
        n,
        start,
        &created,
        &seen,
        Figures {
            created_secs,
            operator: (operator_before, operator_after),
            cluster: (cluster_before, cluster_after),
            writes: writes_after.saturating_sub(writes_before),
            ceiling,
            paced: args.rate,
            operator_work: work_after.since(&work_before),
        },
    );
    if result.end_secs.is_none() {
        println!(
            "not every application ended within {}s: {} COMPLETED, {} FAILED of {n}",
            args.timeout_seconds, result.completed, result.failed
        );
    }
    Ok(result)
}

/// One application run to its end before measuring, so the operator's watches and caches are
/// up: its start-up is not counted.
async fn warm_up(
    client: &kube::Client,
    observed: &workload::Shared,
    executors: u32,
) -> anyhow::Result<()> {
    let name = "warm-up";
    let app = workload::application(name, workload::WARM_UP_NAMESPACE, executors);
    workload::apps(client.clone(), workload::WARM_UP_NAMESPACE)
        .create(&PostParams::default(), &app)
        .await
        .context("creating the warm-up application")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(&(_, completed)) = observed.lock().expect("not poisoned").ended.get(name) {
            if !completed {
                bail!("the warm-up application FAILED; see the operator's log");
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the warm-up application did not complete within 60s")
}

/// The operator's counters now (none when it serves no metrics).
async fn read_work(operator: &procs::Process) -> anyhow::Result<operator_work::Work> {
    match operator.metrics {
        Some(address) => operator_work::read(address).await,
        None => Ok(operator_work::Work::default()),
    }
}

struct Figures {
    created_secs: f64,
    operator: (Usage, Usage),
    cluster: (Usage, Usage),
    writes: u64,
    ceiling: f64,
    paced: Option<f64>,
    operator_work: operator_work::Work,
}

fn summarize(
    n: usize,
    start: Instant,
    created: &[Instant],
    seen: &Observed,
    figures: Figures,
) -> SizeResult {
    let names: Vec<String> = (0..n).map(workload::name).collect();
    let mut latencies_ms: Vec<f64> = names
        .iter()
        .zip(created)
        .filter_map(|(name, created)| {
            let driver = seen.drivers.get(name)?;
            // A driver seen before the create's answer arrived counts as zero.
            Some(driver.saturating_duration_since(*created).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    let since_start = |t: &Instant| t.duration_since(start).as_secs_f64();
    let drivers: Vec<&Instant> = names.iter().filter_map(|n| seen.drivers.get(n)).collect();
    let ends: Vec<&(Instant, bool)> = names.iter().filter_map(|n| seen.ended.get(n)).collect();
    let completed = ends.iter().filter(|(_, ok)| *ok).count();
    SizeResult {
        n,
        drivers: drivers.len(),
        completed,
        failed: ends.len() - completed,
        latencies_ms,
        create_secs: figures.created_secs,
        submit_secs: drivers.iter().map(|t| since_start(t)).fold(0.0, f64::max),
        end_secs: (ends.len() == n)
            .then(|| ends.iter().map(|(t, _)| since_start(t)).fold(0.0, f64::max)),
        operator_cpu_secs: figures.operator.1.cpu_secs - figures.operator.0.cpu_secs,
        operator_peak_rss_mib: figures.operator.1.peak_rss_kib as f64 / 1024.0,
        operator_wakeups: figures.operator.1.wakeups - figures.operator.0.wakeups,
        cluster_cpu_secs: figures.cluster.1.cpu_secs - figures.cluster.0.cpu_secs,
        cluster_writes: figures.writes,
        ceiling_per_sec: figures.ceiling,
        paced: figures.paced,
        operator_work: figures.operator_work,
    }
}

/// The same workload through `--submitter spark-submit` at `--spark-submit-size`, beside native
/// submission at that size: the section of results.md that compares the two.
async fn compare_spark_submit(
    bins: &Binaries,
    args: &Args,
    work: &Path,
    native: &[SizeResult],
) -> anyhow::Result<String> {
    let n = args.spark_submit_size;
    let args_executors = args.executors;
    if n == 0 {
        return Ok("spark-submit mode: not run (--spark-submit-size 0).".into());
    }
    let has_spark = std::env::var_os("SPARK_HOME").is_some()
        || std::process::Command::new("python3")
            .args(["-c", "import pyspark"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_spark {
        return Ok("spark-submit mode: not run: no Spark here (set SPARK_HOME or `pip install pyspark==4.0.1`).".into());
    }
    // spark-submit refuses zero executors without dynamic allocation ("Number of executors must
    // be a positive number"): both modes run with at least one here.
    let args = &Args {
        executors: args.executors.max(1),
        ..args.clone()
    };
    let native = match native
        .iter()
        .find(|r| r.n == n && r.paced.is_none() && args.executors == args_executors)
    {
        Some(result) => result.clone(),
        None => {
            println!(
                "\n== native at N = {n}, {} executor(s), for the comparison",
                args.executors
            );
            run_size(bins, args, n, work, "native").await?
        }
    };
    println!(
        "\n== spark-submit mode, N = {n}, {} executor(s)",
        args.executors
    );
    let spark_submit = run_size(bins, args, n, work, "spark-submit").await?;
    Ok(report::comparison(&native, &spark_submit))
}
