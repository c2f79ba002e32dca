//! Kubeflow's batch scheduling flags of `controller start`, with Kubeflow's meaning: which batch
//! schedulers gang-schedule applications (`submission::gang`) and whether drivers get a
//! PodDisruptionBudget.

use clap::Args;

use super::go_values::{go_bool, string_list};
use crate::submission::gang::{BatchScheduling, VOLCANO, YUNIKORN};

#[derive(Debug, Clone, Args)]
pub struct BatchSchedulerFlags {
    /// Gang-schedule applications whose `batchScheduler` (or the default below) is volcano,
    /// yunikorn or one of --kube-scheduler-names: their PodGroups, annotations and labels.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub enable_batch_scheduler: Option<bool>,
    /// Schedulers that are scheduler-plugins coscheduling instances (comma-separated).
    #[arg(long, default_value = "")]
    pub kube_scheduler_names: String,
    /// The scheduler of applications that name none (volcano, yunikorn or one of
    /// --kube-scheduler-names), with --enable-batch-scheduler.
    #[arg(long, default_value = "")]
    pub default_batch_scheduler: String,
    /// A PodDisruptionBudget (minAvailable 1) for the driver of applications with
    /// `driverPodDisruptionBudget: true`, while they are submitted or running.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub enable_driver_pdb: Option<bool>,
}

impl BatchSchedulerFlags {
    /// The settings, or the flag that is wrong: Kubeflow refuses to start with a default
    /// scheduler it does not know, too.
    pub fn scheduling(&self) -> Result<BatchScheduling, String> {
        let enabled = self.enable_batch_scheduler == Some(true);
        let names = string_list(&self.kube_scheduler_names);
        let default = &self.default_batch_scheduler;
        let known = [VOLCANO, YUNIKORN].contains(&default.as_str()) || names.contains(default);
        if enabled && !default.is_empty() && !known {
            return Err(format!(
                "--default-batch-scheduler {default:?} is not a registered scheduler: use volcano, yunikorn or one of --kube-scheduler-names"
            ));
        }
        Ok(BatchScheduling {
            enabled,
            default_scheduler: (enabled && !default.is_empty()).then(|| default.clone()),
            kube_scheduler_names: names,
        })
    }

    pub fn driver_pdb(&self) -> bool {
        self.enable_driver_pdb == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        flags: BatchSchedulerFlags,
    }

    fn parse(args: &[&str]) -> BatchSchedulerFlags {
        Command::parse_from(std::iter::once("controller").chain(args.iter().copied())).flags
    }

    #[test]
    fn kubeflows_chart_arguments_mean_what_they_mean_there() {
        let flags = parse(&[
            "--enable-batch-scheduler=true",
            "--kube-scheduler-names=scheduler-plugins-scheduler,other",
            "--default-batch-scheduler=scheduler-plugins-scheduler",
            "--enable-driver-pdb",
        ]);
        let scheduling = flags.scheduling().unwrap();
        assert!(scheduling.enabled);
        assert_eq!(
            scheduling.default_scheduler.as_deref(),
            Some("scheduler-plugins-scheduler")
        );
        assert_eq!(
            scheduling.kube_scheduler_names,
            ["scheduler-plugins-scheduler", "other"]
        );
        assert!(flags.driver_pdb());
    }

    #[test]
    fn an_unknown_default_is_refused_and_a_default_without_the_switch_is_nothing() {
        let error = parse(&[
            "--enable-batch-scheduler",
            "--default-batch-scheduler=kueue",
        ])
        .scheduling()
        .unwrap_err();
        assert!(
            error.contains("--default-batch-scheduler \"kueue\""),
            "{error}"
        );
        let off = parse(&["--default-batch-scheduler=volcano"])
            .scheduling()
            .unwrap();
        assert_eq!(off, BatchScheduling::default());
        assert!(!parse(&[]).driver_pdb());
    }
}
