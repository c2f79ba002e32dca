//! The pure parts: percentiles, the figures of one size, and the markdown they are shown in.

use std::fmt::Write;

use crate::operator_work::Work;

/// The `p`th percentile (0–100) of sorted values, by nearest rank; `None` when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What was measured for one number of applications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeResult {
    /// Applications created.
    pub n: usize,
    /// Driver pods seen by the bench's watch.
    pub drivers: usize,
    /// Applications seen COMPLETED, and FAILED.
    pub completed: usize,
    pub failed: usize,
    /// Create-to-driver-pod latencies in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Seconds from the first create request to the last create answered.
    pub create_secs: f64,
    /// Seconds from the first create request to the last driver pod seen.
    pub submit_secs: f64,
    /// Seconds from the first create request to the last application COMPLETED or FAILED; `None`
    /// when not every application ended before the deadline.
    pub end_secs: Option<f64>,
    /// CPU seconds (user + system) of the operator process during the run.
    pub operator_cpu_secs: f64,
    /// Peak resident set of the operator process (VmHWM), in MiB.
    pub operator_peak_rss_mib: f64,
    /// Times the operator's threads were woken by the kernel during the run.
    pub operator_wakeups: u64,
    /// CPU seconds of the local cluster process during the run.
    pub cluster_cpu_secs: f64,
    /// Writes the cluster stored during the run (its resourceVersion counter advanced this much).
    pub cluster_writes: u64,
    /// ConfigMaps per second the same clients got into a fresh cluster with no operator.
    pub ceiling_per_sec: f64,
    /// Creates per second the run was paced at; `None` for a burst (as fast as the clients go).
    pub paced: Option<f64>,
    /// The operator's requests and reconciles during the run.
    pub operator_work: Work,
}

impl SizeResult {
    pub fn p50_ms(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 50.0)
    }
    pub fn p99_ms(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 99.0)
    }
    /// Driver pods created per second, from the first create to the last driver pod.
    pub fn submissions_per_sec(&self) -> f64 {
        per_sec(self.drivers, self.submit_secs)
    }
    /// Applications created per second by the bench's clients.
    pub fn creates_per_sec(&self) -> f64 {
        per_sec(self.n, self.create_secs)
    }
    pub fn operator_cpu_ms_per_app(&self) -> f64 {
        self.operator_cpu_secs * 1000.0 / self.n.max(1) as f64
    }
    pub fn writes_per_app(&self) -> f64 {
        self.cluster_writes as f64 / self.n.max(1) as f64
    }
    /// How the applications were created: `burst` or `paced R/s`.
    pub fn pace(&self) -> String {
        self.paced
            .map_or_else(|| "burst".to_string(), |rate| format!("paced {rate:.0}/s"))
    }
}

fn per_sec(count: usize, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

pub fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The results as one markdown table, a row per size.
pub fn markdown_table(results: &[SizeResult]) -> String {
    let mut out = String::new();
    out.push_str(
        "| N | creates | create→driver pod p50 (ms) | p99 (ms) | submissions/s | creates/s | all ended (s) \
         | COMPLETED / FAILED | operator CPU per app (ms) | operator peak RSS (MiB) \
         | cluster CPU (s) | cluster writes per app | cluster ceiling (ConfigMaps/s) |\n",
    );
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {:.0} | {} | {} / {} | {:.3} | {:.1} | {:.1} | {:.1} | {:.0} |",
            r.n,
            r.pace(),
            opt(r.p50_ms(), 1),
            opt(r.p99_ms(), 1),
            r.submissions_per_sec(),
            r.creates_per_sec(),
            opt(r.end_secs, 2),
            r.completed,
            r.failed,
            r.operator_cpu_ms_per_app(),
            r.operator_peak_rss_mib,
            r.cluster_cpu_secs,
            r.writes_per_app(),
            r.ceiling_per_sec,
        );
    }
    out
}

/// Methods shown in their own column of [`work_table`]; the rest are summed under `other`.
const METHODS: [&str; 3] = ["POST", "PATCH", "GET"];

/// What the operator did per application (its requests to the API server, by method, and its
/// reconciles) and its CPU per request or reconcile: where the CPU per application goes.
pub fn work_table(results: &[SizeResult]) -> String {
    let mut out = String::from(
        "| N | creates | API requests per app | POST | PATCH | GET | other | reconciles per app \
         | operator CPU per request or reconcile (µs) | operator wake-ups per app \
         |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let work = &r.operator_work;
        let apps = r.n.max(1) as f64;
        let per_app = |count: f64| format!("{:.1}", count / apps);
        let requests = work.total_requests();
        let shown: f64 = METHODS.iter().map(|m| work.requests_by(m)).sum();
        let (total, by_method) = if work.requests.is_empty() {
            ("-".to_string(), vec!["-".to_string(); METHODS.len() + 1])
        } else {
            let mut columns: Vec<String> = METHODS
                .iter()
                .map(|m| per_app(work.requests_by(m)))
                .collect();
            columns.push(per_app(requests - shown));
            (per_app(requests), columns)
        };
        let operations = requests + work.reconciles;
        let cpu_per_operation = (operations > 0.0 && !work.requests.is_empty())
            .then(|| r.operator_cpu_secs * 1e6 / operations);
        let _ = writeln!(
            out,
            "| {} | {} | {total} | {} | {} | {} | {} |",
            r.n,
            r.pace(),
            by_method.join(" | "),
            per_app(work.reconciles),
            opt(cpu_per_operation, 0),
            per_app(r.operator_wakeups as f64),
        );
    }
    out
}

/// Each target for native submission, with the measured figure and whether it is met. The
/// latency target is about an operator that keeps up: it is judged on a paced run at N = 1,000
/// (the burst's figure, which measures the queue, is shown beside it). Throughput is judged on
/// the bursts only, since a paced run is as fast as its pace.
pub fn targets(results: &[SizeResult]) -> String {
    let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
    let mut line = |target: &str, measured: Option<(String, bool)>| {
        let (figure, met) = measured.map_or(("not measured".to_string(), "-"), |(f, ok)| {
            (f, if ok { "yes" } else { "no" })
        });
        let _ = writeln!(out, "| {target} | {figure} | {met} |");
    };
    let at_1000 = |paced: bool| {
        results
            .iter()
            .find(|r| r.n == 1000 && r.paced.is_some() == paced)
            .and_then(|r| Some((r.p50_ms()?, r.pace())))
    };
    let latency = match (at_1000(true), at_1000(false)) {
        (Some((paced, pace)), burst) => {
            let beside = burst.map_or(String::new(), |(b, _)| format!("; burst: {b:.1} ms"));
            Some((format!("{paced:.1} ms ({pace}{beside})"), paced < 20.0))
        }
        (None, Some((burst, _))) => Some((format!("{burst:.1} ms (burst)"), burst < 20.0)),
        (None, None) => None,
    };
    line("p50 create→driver pod < 20 ms at N = 1,000", latency);
    let bursts: Vec<&SizeResult> = results.iter().filter(|r| r.paced.is_none()).collect();
    let rate = bursts
        .iter()
        .map(|r| r.submissions_per_sec())
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    line(
        "≥ 200 submissions/s (lowest over the bursts)",
        rate.map(|r| (format!("{r:.0}/s"), r >= 200.0)),
    );
    let cpu = results
        .iter()
        .map(SizeResult::operator_cpu_ms_per_app)
        .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
    line(
        "< 1 ms operator CPU per application (highest over the sizes)",
        cpu.map(|c| (format!("{c:.3} ms"), c < 1.0)),
    );
    let at_10000 = bursts.iter().find(|r| r.n == 10_000);
    line(
        "peak RSS < 100 MB with 10,000 applications",
        at_10000.map(|r| {
            let mb = r.operator_peak_rss_mib * 1.048_576;
            (format!("{mb:.0} MB"), mb < 100.0)
        }),
    );
    out
}

/// Native submission beside spark-submit mode at one size, with the ratios native / spark-submit.
pub fn comparison(native: &SizeResult, spark_submit: &SizeResult) -> String {
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.4}", a / b),
        _ => "-".into(),
    };
    let rows = [
        (
            "create→driver pod p50 (ms)",
            native.p50_ms(),
            spark_submit.p50_ms(),
        ),
        (
            "create→driver pod p99 (ms)",
            native.p99_ms(),
            spark_submit.p99_ms(),
        ),
        (
            "submissions/s",
            Some(native.submissions_per_sec()),
            Some(spark_submit.submissions_per_sec()),
        ),
        (
            "operator CPU per app (ms, with its spark-submit children)",
            Some(native.operator_cpu_ms_per_app()),
            Some(spark_submit.operator_cpu_ms_per_app()),
        ),
    ];
    let mut out = format!(
        "Native submission beside spark-submit mode, N = {}:\n\n| measure | native | spark-submit | native / spark-submit |\n|---|---:|---:|---:|\n",
        native.n
    );
    for (name, a, b) in rows {
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            opt(a, 2),
            opt(b, 2),
            ratio(a, b)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(n: usize, latencies: &[f64]) -> SizeResult {
        SizeResult {
            n,
            drivers: n,
            completed: n,
            failed: 0,
            latencies_ms: latencies.to_vec(),
            create_secs: 0.5,
            submit_secs: 1.0,
            end_secs: Some(2.0),
            operator_cpu_secs: 0.25,
            operator_peak_rss_mib: 50.0,
            operator_wakeups: 4 * n as u64,
            cluster_cpu_secs: 1.5,
            cluster_writes: 12 * n as u64,
            ceiling_per_sec: 1234.0,
            paced: None,
            operator_work: Work::default(),
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn derived_figures() {
        let r = result(100, &[1.0, 2.0]);
        assert_eq!(r.submissions_per_sec(), 100.0);
        assert_eq!(r.creates_per_sec(), 200.0);
        assert_eq!(r.operator_cpu_ms_per_app(), 2.5);
        assert_eq!(r.writes_per_app(), 12.0);
        let idle = SizeResult {
            submit_secs: 0.0,
            ..r
        };
        assert_eq!(idle.submissions_per_sec(), 0.0);
    }

    #[test]
    fn table_has_a_row_per_size() {
        let table = markdown_table(&[result(100, &[3.0, 4.0]), result(1000, &[])]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| N | creates | create→driver pod p50 (ms) |"));
        assert_eq!(
            lines[2],
            "| 100 | burst | 3.0 | 4.0 | 100 | 200 | 2.00 | 100 / 0 | 2.500 | 50.0 | 1.5 | 12.0 | 1234 |"
        );
        assert!(lines[3].starts_with("| 1000 | burst | - | - |"));
        let columns = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| columns(l) == columns(lines[0])));
    }

    #[test]
    fn work_is_shown_per_application_with_the_cpu_per_operation() {
        let mut r = result(100, &[1.0]);
        r.operator_work = Work::parse(
            "rest_client_requests_total{code=\"201\",method=\"POST\"} 900\n\
             rest_client_requests_total{code=\"200\",method=\"PATCH\"} 500\n\
             rest_client_requests_total{code=\"200\",method=\"DELETE\"} 100\n\
             controller_runtime_reconcile_total{result=\"success\"} 1000\n",
        );
        let table = work_table(&[r.clone(), result(1000, &[])]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("| N | creates | API requests per app | POST |"));
        // 0.25 CPU seconds over 1,500 requests and 1,000 reconciles; 400 wake-ups.
        assert_eq!(
            lines[2],
            "| 100 | burst | 15.0 | 9.0 | 5.0 | 0.0 | 1.0 | 10.0 | 100 | 4.0 |"
        );
        // An operator that does not count its requests.
        assert_eq!(
            lines[3],
            "| 1000 | burst | - | - | - | - | - | 0.0 | - | 4.0 |"
        );
        let columns = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| columns(l) == columns(lines[0])));
    }

    #[test]
    fn targets_report_what_was_measured() {
        let table = targets(&[result(1000, &[5.0, 30.0])]);
        assert!(
            table.contains("| p50 create→driver pod < 20 ms at N = 1,000 | 5.0 ms (burst) | yes |")
        );
        assert!(table.contains("| ≥ 200 submissions/s (lowest over the bursts) | 1000/s | yes |"));
        assert!(table.contains("| 0.250 ms | yes |"));
        let slow = targets(&[result(100, &[5.0])]);
        assert!(slow.contains("| 2.500 ms | no |"));
        assert!(slow.contains("at N = 1,000 | not measured | - |"));
        assert!(
            table.contains("| peak RSS < 100 MB with 10,000 applications | not measured | - |")
        );
    }

    #[test]
    fn latency_is_judged_on_the_paced_run_and_throughput_on_the_bursts() {
        let burst = result(1000, &[300.0, 900.0]);
        let paced = SizeResult {
            paced: Some(200.0),
            submit_secs: 5.0,
            ..result(1000, &[4.0, 30.0])
        };
        let table = targets(&[burst, paced]);
        assert!(
            table.contains("| 4.0 ms (paced 200/s; burst: 300.0 ms) | yes |"),
            "{table}"
        );
        assert!(table.contains("| 1000/s | yes |"), "{table}");
    }

    #[test]
    fn comparison_gives_the_ratios() {
        let mut native = result(100, &[10.0]);
        native.operator_cpu_secs = 0.1;
        let mut spark_submit = result(100, &[1000.0]);
        spark_submit.operator_cpu_secs = 100.0;
        let text = comparison(&native, &spark_submit);
        assert!(
            text.contains("| create→driver pod p50 (ms) | 10.00 | 1000.00 | 0.0100 |"),
            "{text}"
        );
        assert!(text.contains("| 0.0010 |"), "{text}");
    }
}
