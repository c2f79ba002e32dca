//! `--baseline-operator PATH`: another operator binary (an older commit's, say) run against the
//! same local cluster binary and workload as this one, alternately, so that a change is judged
//! by figures taken minutes apart on the same machine rather than against a number published on
//! another day.

use std::path::{Path, PathBuf};

use crate::procs::Binaries;
use crate::report::SizeResult;

/// One round: the baseline's figures and the current operator's, for the same N.
pub struct Round {
    pub n: usize,
    pub baseline: SizeResult,
    pub current: SizeResult,
}

impl Round {
    /// Operator CPU per application, current / baseline (none when the baseline measured none).
    fn cpu_ratio(&self) -> Option<f64> {
        let baseline = self.baseline.operator_cpu_ms_per_app();
        (baseline > 0.0).then(|| self.current.operator_cpu_ms_per_app() / baseline)
    }
}

/// The binaries of the baseline: the same local cluster, the other operator.
pub fn binaries(current: &Binaries, baseline_operator: &Path) -> anyhow::Result<Binaries> {
    anyhow::ensure!(
        baseline_operator.is_file(),
        "--baseline-operator {}: no such file; build the other commit's operator \
         (cargo build --profile dist -p spark-operator in its checkout) and give its path",
        baseline_operator.display()
    );
    Ok(Binaries {
        localcluster: current.localcluster.clone(),
        operator: PathBuf::from(baseline_operator),
    })
}

/// The rounds as a markdown table, with the median of each column's ratio current / baseline.
pub fn markdown(rounds: &[Round]) -> String {
    let mut out = String::from(
        "| N | round | CPU per app, baseline (ms) | CPU per app, current (ms) | current / baseline \
         | submissions/s, baseline | submissions/s, current | p50 create→driver pod, baseline \
         (ms) | p50, current (ms) | peak RSS, baseline (MiB) | peak RSS, current (MiB) \
         |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut per_n = std::collections::BTreeMap::<usize, usize>::new();
    for round in rounds {
        let index = per_n.entry(round.n).or_default();
        *index += 1;
        let (b, c) = (&round.baseline, &round.current);
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {} | {:.0} | {:.0} | {} | {} | {:.1} | {:.1} |\n",
            round.n,
            index,
            b.operator_cpu_ms_per_app(),
            c.operator_cpu_ms_per_app(),
            round
                .cpu_ratio()
                .map_or_else(|| "-".into(), |ratio| format!("{ratio:.2}")),
            b.submissions_per_sec(),
            c.submissions_per_sec(),
            crate::report::opt(b.p50_ms(), 1),
            crate::report::opt(c.p50_ms(), 1),
            b.operator_peak_rss_mib,
            c.operator_peak_rss_mib,
        ));
    }
    let mut ratios: Vec<f64> = rounds.iter().filter_map(Round::cpu_ratio).collect();
    ratios.sort_by(f64::total_cmp);
    if let Some(median) = crate::report::percentile(&ratios, 50.0) {
        out.push_str(&format!(
            "\nMedian CPU per application, current / baseline: {median:.2}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(cpu_secs: f64, rss: f64) -> SizeResult {
        SizeResult {
            n: 1000,
            drivers: 1000,
            completed: 1000,
            submit_secs: 2.0,
            operator_cpu_secs: cpu_secs,
            operator_peak_rss_mib: rss,
            ..SizeResult::default()
        }
    }

    #[test]
    fn rounds_are_numbered_per_size_with_the_median_ratio() {
        let rounds = vec![
            Round {
                n: 1000,
                baseline: result(3.0, 46.0),
                current: SizeResult {
                    latencies_ms: vec![7.0],
                    ..result(2.0, 45.0)
                },
            },
            Round {
                n: 1000,
                baseline: result(4.0, 46.0),
                current: result(2.0, 45.0),
            },
        ];
        let table = markdown(&rounds);
        assert!(
            table.contains(
                "| 1000 | 1 | 3.000 | 2.000 | 0.67 | 500 | 500 | - | 7.0 | 46.0 | 45.0 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| 1000 | 2 | 4.000 | 2.000 | 0.50 |"),
            "{table}"
        );
        assert!(
            table.contains("current / baseline: 0.50"),
            "nearest rank of two: {table}"
        );
    }

    #[test]
    fn a_missing_baseline_is_named_with_the_way_to_build_it() {
        let current = Binaries {
            localcluster: "lc".into(),
            operator: "op".into(),
        };
        let error = binaries(&current, Path::new("/nonexistent/spark-operator"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("--baseline-operator /nonexistent/spark-operator"),
            "{error}"
        );
        assert!(
            error.contains("cargo build --profile dist -p spark-operator"),
            "{error}"
        );
    }
}
