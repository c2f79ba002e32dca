//! What the operator adds to an application it submits, from its own settings: Kubeflow's
//! LoadSparkDefaults feature gate (the operator's `spark-defaults.conf`, under the application's
//! `sparkConf`, which wins) and `--default-batch-scheduler` (the `batchScheduler` of applications
//! that name none). Kubeflow's spark-submit loads that file from the operator's image
//! (`--load-spark-defaults`); here it is read once at start, for both ways of submitting.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use spark_operator_api::SparkApplication;

use crate::config::ControllerConfig;

/// `app` with the operator's defaults under it (the application itself when there are none).
pub fn with_operator_defaults<'a>(
    app: &'a SparkApplication,
    config: &ControllerConfig,
) -> Cow<'a, SparkApplication> {
    let scheduler = config
        .batch_scheduling
        .default_scheduler
        .as_ref()
        .filter(|_| {
            app.spec
                .batch_scheduler
                .as_deref()
                .is_none_or(str::is_empty)
        });
    if config.spark_defaults.is_empty() && scheduler.is_none() {
        return Cow::Borrowed(app);
    }
    let mut app = app.clone();
    for (key, value) in &config.spark_defaults {
        app.spec
            .spark_conf
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
    if let Some(scheduler) = scheduler {
        app.spec.batch_scheduler = Some(scheduler.clone());
    }
    Cow::Owned(app)
}

/// The properties of the operator's `spark-defaults.conf`: `$SPARK_CONF_DIR/spark-defaults.conf`,
/// else `$SPARK_HOME/conf/spark-defaults.conf`; none when neither exists.
pub fn spark_defaults_of_environment() -> Result<BTreeMap<String, String>, String> {
    let candidates = [
        std::env::var_os("SPARK_CONF_DIR").map(PathBuf::from),
        std::env::var_os("SPARK_HOME").map(|home| PathBuf::from(home).join("conf")),
    ];
    let Some(file) = candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join("spark-defaults.conf"))
        .find(|file| file.is_file())
    else {
        tracing::info!(
            "LoadSparkDefaults: no spark-defaults.conf in $SPARK_CONF_DIR or $SPARK_HOME/conf"
        );
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let properties = crate::submission::properties::parse(&text)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    tracing::info!(
        file = %file.display(),
        properties = properties.len(),
        "LoadSparkDefaults: applying the operator's Spark defaults under every application's sparkConf"
    );
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(conf: &[(&str, &str)], scheduler: Option<&str>) -> SparkApplication {
        let mut app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"type": "Scala", "sparkVersion": "4.0.0"}
        }))
        .unwrap();
        for (k, v) in conf {
            app.spec.spark_conf.insert(k.to_string(), v.to_string());
        }
        app.spec.batch_scheduler = scheduler.map(str::to_string);
        app
    }

    #[test]
    fn the_application_wins_over_the_operators_defaults() {
        let config = ControllerConfig {
            spark_defaults: BTreeMap::from([
                ("spark.eventLog.enabled".to_string(), "true".to_string()),
                ("spark.executor.cores".to_string(), "2".to_string()),
            ]),
            batch_scheduling: crate::submission::gang::BatchScheduling {
                enabled: true,
                default_scheduler: Some("volcano".into()),
                kube_scheduler_names: Vec::new(),
            },
            ..ControllerConfig::default()
        };
        let given = app(&[("spark.executor.cores", "4")], None);
        let submitted = with_operator_defaults(&given, &config);
        assert_eq!(submitted.spec.spark_conf["spark.executor.cores"], "4");
        assert_eq!(submitted.spec.spark_conf["spark.eventLog.enabled"], "true");
        assert_eq!(submitted.spec.batch_scheduler.as_deref(), Some("volcano"));
        let own = app(&[], Some("yunikorn"));
        assert_eq!(
            with_operator_defaults(&own, &config)
                .spec
                .batch_scheduler
                .as_deref(),
            Some("yunikorn")
        );
        let plain = app(&[], None);
        assert!(matches!(
            with_operator_defaults(&plain, &ControllerConfig::default()),
            Cow::Borrowed(_)
        ));
    }
}
