//! The local cluster and the operator as child processes, and what /proc says they cost.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// The binaries the bench runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub localcluster: PathBuf,
    pub operator: PathBuf,
}

/// The build command the bench asks for when a binary is missing: the `dist` profile, the one the
/// image ships (Cargo.toml).
const BUILD_COMMAND: &str = "cargo build --profile dist -p localcluster -p spark-operator";

impl Binaries {
    /// Both binaries from one directory, so that a run never mixes builds of two profiles.
    pub fn find() -> anyhow::Result<Binaries> {
        let dir = find_dir(&["localcluster", "spark-operator"])?;
        Ok(Binaries {
            localcluster: dir.join("localcluster"),
            operator: dir.join("spark-operator"),
        })
    }
}

/// Where the binaries are looked for, in order: beside the bench's own executable (built with
/// the same profile), then the `dist` and `release` directories of the target directory.
fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
    }
    let mut targets = Vec::new();
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        targets.push(PathBuf::from(target));
    }
    targets.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for target in targets {
        dirs.push(target.join("dist"));
        dirs.push(target.join("release"));
    }
    // One directory under two spellings (the bench's own is usually the workspace's) once.
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|dir| seen.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())));
    dirs
}

/// The first of `dirs` that holds every binary of `names`.
fn first_holding<'a>(
    dirs: &'a [PathBuf],
    names: &[&str],
    is_file: impl Fn(&Path) -> bool,
) -> Option<&'a PathBuf> {
    dirs.iter()
        .find(|dir| names.iter().all(|name| is_file(&dir.join(name))))
}

/// The first directory of [`binary_dirs`] holding every binary of `names`, or an error that says
/// where the bench looked and how to build them.
pub fn find_dir(names: &[&str]) -> anyhow::Result<PathBuf> {
    let dirs = binary_dirs();
    if let Some(dir) = first_holding(&dirs, names, Path::is_file) {
        return Ok(dir.clone());
    }
    bail!(
        "no directory holds {} (looked in {}); build them first:\n    {BUILD_COMMAND}",
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Capacity of the simulated nodes: enough room for every near-zero pod of the largest run at once.
const NODES: &str = "3";
const NODE_CPU: &str = "100000";
const NODE_MEMORY_GIB: &str = "100000";
/// Pod slots of each node: the scheduler counts them, as Kubernetes' does (`Too many pods`).
const NODE_PODS: &str = "100000";

/// An address on the loopback interface that nothing listens on now, for a listener of the
/// operator (a fixed port could clash with another process on the machine).
pub fn free_local_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A child process, killed when dropped.
pub struct Process {
    pub name: &'static str,
    child: Child,
    /// Where the operator serves its metrics (none for the cluster).
    pub metrics: Option<SocketAddr>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// CPU seconds and peak RSS so far; an error once the process has gone.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        let pid = self.pid();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat of {}", self.name))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status of {}", self.name))?;
        let ticks = clock_ticks_per_second();
        Ok(Usage {
            cpu_secs: cpu_ticks(&stat).context("parsing /proc/PID/stat")? as f64 / ticks,
            peak_rss_kib: status_kib(&status, "VmHWM").context("VmHWM in /proc/PID/status")?,
            wakeups: status_count(&status, "voluntary_ctxt_switches").unwrap_or(0),
        })
    }

    /// Fails when the process has exited, naming its log.
    pub fn check_alive(&mut self, log: &Path) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); see {}", self.name, log.display());
        }
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// CPU and memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_secs: f64,
    pub peak_rss_kib: u64,
    /// Times its threads gave up the CPU to wait (voluntary context switches): each is a
    /// wake-up by the kernel when what they waited for came.
    pub wakeups: u64,
}

/// utime + stime of the process and of its children that ended (cutime + cstime: the
/// spark-submit JVMs the operator runs in spark-submit mode), in clock ticks, from the text of
/// /proc/PID/stat (fields 14 to 17; the command name in parentheses may hold spaces, so fields are
/// counted after its closing parenthesis).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
    (11..=14).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// A `Name:   123 kB` line of /proc/PID/status, in KiB.
pub fn status_kib(status: &str, name: &str) -> Option<u64> {
    status_count(status, name)
}

/// The number of a `Name:   123` line of /proc/PID/status (a unit after it is left out).
pub fn status_count(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds of this process so far.
pub fn own_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| cpu_ticks(&stat))
        .map_or(0.0, |ticks| ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture the bench runs on; `getconf` confirms it when present.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!("{name}.log"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok((path, file))
}

/// Starts the local cluster (plain HTTP, a free port, roomy simulated nodes) and waits for the
/// kubeconfig it writes once it serves.
pub async fn start_cluster(
    bins: &Binaries,
    dir: &Path,
    kubeconfig: &Path,
) -> anyhow::Result<Process> {
    let _ = std::fs::remove_file(kubeconfig);
    let (log, file) = log_file(dir, "localcluster")?;
    let child = Command::new(&bins.localcluster)
        .args(["--no-tls", "--port", "0", "--nodes", NODES])
        .args(["--node-cpu", NODE_CPU, "--node-memory-gib", NODE_MEMORY_GIB])
        .args(["--node-pods", NODE_PODS])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bins.localcluster.display()))?;
    let process = Process {
        name: "localcluster",
        child,
        metrics: None,
    };
    written_by(process, kubeconfig, "kubeconfig", &log).await
}

/// `process` once it has written `file` (30 s at most), or an error naming its log if it
/// exits or takes longer.
async fn written_by(
    mut process: Process,
    file: &Path,
    what: &str,
    log: &Path,
) -> anyhow::Result<Process> {
    for _ in 0..300 {
        process.check_alive(log)?;
        if std::fs::metadata(file).is_ok_and(|m| m.len() > 0) {
            return Ok(process);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} wrote no {what} within 30 s; see {}",
        process.name,
        log.display()
    )
}

/// Starts this bench as the floor client (`--floor-client`) against the cluster of `kubeconfig`
/// and waits until it writes `ready`.
pub async fn start_floor_client(
    dir: &Path,
    kubeconfig: &Path,
    ready: &Path,
) -> anyhow::Result<Process> {
    let _ = std::fs::remove_file(ready);
    let (log, file) = log_file(dir, "floor-client")?;
    let child = Command::new(std::env::current_exe()?)
        .arg("--floor-client")
        .arg(kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .context("starting the floor client")?;
    let process = Process {
        name: "floor client",
        child,
        metrics: None,
    };
    written_by(process, ready, "readiness file", &log).await
}

/// Starts `spark-operator controller start --install-crds` against the cluster of `kubeconfig`.
pub fn start_operator(
    bins: &Binaries,
    dir: &Path,
    kubeconfig: &Path,
    submitter: &str,
) -> anyhow::Result<Process> {
    start_operator_with(bins, dir, kubeconfig, &["--submitter", submitter])
}

/// Starts `spark-operator controller start --install-crds` with `extra` flags.
pub fn start_operator_with(
    bins: &Binaries,
    dir: &Path,
    kubeconfig: &Path,
    extra: &[&str],
) -> anyhow::Result<Process> {
    let (_, file) = log_file(dir, "spark-operator")?;
    // Metrics on a port free a moment ago; no health listener.
    let metrics = free_local_address()?;
    let child = Command::new(&bins.operator)
        .args(["controller", "start", "--install-crds"])
        .args(extra)
        .args(["--health-probe-bind-address", "0", "--metrics-bind-address"])
        .arg(metrics.to_string())
        .env("KUBECONFIG", kubeconfig)
        // The operator's own default logging (info) is part of what is measured.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bins.operator.display()))?;
    Ok(Process {
        name: "spark-operator",
        child,
        metrics: Some(metrics),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_come_from_the_first_directory_holding_them_all() {
        let dirs = [
            PathBuf::from("/beside"),
            PathBuf::from("/t/dist"),
            PathBuf::from("/t/release"),
        ];
        let present = |files: &'static [&'static str]| {
            move |path: &Path| files.iter().any(|file| path == Path::new(file))
        };
        // A dist cluster beside a release operator is not a pair: release has both.
        let mixed = present(&[
            "/t/dist/localcluster",
            "/t/release/localcluster",
            "/t/release/spark-operator",
        ]);
        let both = ["localcluster", "spark-operator"];
        assert_eq!(
            first_holding(&dirs, &both, mixed),
            Some(&PathBuf::from("/t/release"))
        );
        assert_eq!(
            first_holding(&dirs, &["localcluster"], mixed),
            Some(&PathBuf::from("/t/dist"))
        );
        assert_eq!(first_holding(&dirs, &both, present(&[])), None);
    }

    #[test]
    fn reads_cpu_ticks_past_a_command_with_spaces() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1595 0 0 0 \
                    120 35 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(155), "120 + 35 + children's 0 + 0");
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_kib_lines_of_status() {
        let status =
            "Name:\tspark-operator\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(51200));
        assert_eq!(status_kib(status, "VmRSS"), Some(40000));
        assert_eq!(status_kib(status, "VmSwap"), None);
        let switches = "voluntary_ctxt_switches:\t10548\nnonvoluntary_ctxt_switches:\t1396\n";
        assert_eq!(
            status_count(switches, "voluntary_ctxt_switches"),
            Some(10548)
        );
        assert_eq!(
            status_count(switches, "nonvoluntary_ctxt_switches"),
            Some(1396)
        );
    }
}
