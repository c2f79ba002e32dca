//! `--feature-gates`, as Kubeflow's operator reads it (Kubernetes' `Name=true,Other=false`):
//! PartialRestart, LoadSparkDefaults and DefaultTimeToLive change what the operator does;
//! RestSubmitter is accepted, and turning it on is refused with the reason; Kubernetes'
//! `AllAlpha` and `AllBeta` turn on every gate of their stage (all four are alpha). An unknown
//! gate is an error naming the known ones, as in Kubeflow.

use super::go_values::{go_bool, string_list};

/// The gates, all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureGates {
    pub partial_restart: bool,
    pub load_spark_defaults: bool,
    pub rest_submitter: bool,
    pub default_time_to_live: bool,
}

const KNOWN: &str =
    "PartialRestart, LoadSparkDefaults, RestSubmitter, DefaultTimeToLive, AllAlpha, AllBeta";

impl FeatureGates {
    pub fn parse(value: &str) -> Result<FeatureGates, String> {
        let mut gates = FeatureGates::default();
        let mut all_alpha = None;
        for pair in string_list(value).iter().filter(|p| !p.is_empty()) {
            let (name, setting) = pair.split_once('=').ok_or_else(|| {
                format!("--feature-gates: {pair:?} has no value: write it like PartialRestart=true")
            })?;
            let on = go_bool(setting.trim())
                .map_err(|e| format!("--feature-gates: {}: {e}", name.trim()))?;
            match name.trim() {
                "PartialRestart" => gates.partial_restart = on,
                "LoadSparkDefaults" => gates.load_spark_defaults = on,
                "RestSubmitter" => gates.rest_submitter = on,
                "DefaultTimeToLive" => gates.default_time_to_live = on,
                "AllAlpha" => all_alpha = Some(on),
                "AllBeta" => {}
                other => {
                    return Err(format!(
                        "--feature-gates: unrecognized feature gate {other:?}: the gates are {KNOWN}"
                    ));
                }
            }
        }
        if all_alpha == Some(true) {
            // Named gates win over AllAlpha in Kubernetes only when set explicitly; here every
            // gate is alpha and AllAlpha turns on those left unset.
            let explicit = |name: &str| value.contains(&format!("{name}="));
            for (name, gate) in [
                ("PartialRestart", &mut gates.partial_restart),
                ("LoadSparkDefaults", &mut gates.load_spark_defaults),
                ("RestSubmitter", &mut gates.rest_submitter),
                ("DefaultTimeToLive", &mut gates.default_time_to_live),
            ] {
                if !explicit(name) {
                    *gate = true;
                }
            }
        }
        Ok(gates)
    }

    /// Refuses what this operator replaces rather than implements.
    pub fn check(&self) -> Result<(), String> {
        if self.rest_submitter {
            return Err("--feature-gates RestSubmitter=true asks for Kubeflow's REST submission service, which exists to take spark-submit's JVMs out of the operator. This operator submits natively: it creates the driver's objects itself, with no JVM and no service to run. Set RestSubmitter=false (and drop the --submitter-* flags).".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeflows_gates_as_its_chart_renders_them() {
        let rendered = "PartialRestart=false,LoadSparkDefaults=false,RestSubmitter=false,DefaultTimeToLive=false";
        assert_eq!(FeatureGates::parse(rendered), Ok(FeatureGates::default()));
        let on = FeatureGates::parse("PartialRestart=true,DefaultTimeToLive=True").unwrap();
        assert!(on.partial_restart && on.default_time_to_live && !on.load_spark_defaults);
        assert_eq!(FeatureGates::parse(""), Ok(FeatureGates::default()));
        let alpha = FeatureGates::parse("AllAlpha=true,RestSubmitter=false").unwrap();
        assert!(alpha.partial_restart && alpha.load_spark_defaults && !alpha.rest_submitter);
    }

    #[test]
    fn unknown_gates_and_the_rest_submitter_are_refused_with_the_reason() {
        let unknown = FeatureGates::parse("PartialRestarts=true").unwrap_err();
        assert!(
            unknown.contains("unrecognized feature gate \"PartialRestarts\""),
            "{unknown}"
        );
        assert!(unknown.contains("PartialRestart,"), "{unknown}");
        assert!(FeatureGates::parse("PartialRestart").is_err());
        assert!(FeatureGates::parse("PartialRestart=maybe").is_err());
        let rest = FeatureGates::parse("RestSubmitter=true").unwrap();
        let refused = rest.check().unwrap_err();
        assert!(refused.contains("submits natively"), "{refused}");
        assert_eq!(FeatureGates::default().check(), Ok(()));
    }
}
