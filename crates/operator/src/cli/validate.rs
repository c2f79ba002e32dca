//! `spark-operator validate FILE...`: checks SparkApplication, ScheduledSparkApplication and
//! SparkConnect files (YAML or JSON, read as kubectl reads them) with the rules the operator and
//! its webhook apply, without a cluster.

use std::path::PathBuf;

use anyhow::{Context, bail};
use spark_operator_api::documents;
use spark_operator_api::validation::{
    FieldError, validate_application_json, validate_connect_json, validate_scheduled_json,
};

/// Validates every document of every file; fails if any has a problem.
pub fn run(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut invalid = 0;
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let objects = documents::parse(&text)
            .with_context(|| format!("{} cannot be read", file.display()))?;
        if objects.is_empty() {
            bail!(
                "{} holds no objects: nothing to validate (is it the right file?)",
                file.display()
            );
        }
        for value in objects {
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or("<unnamed>")
                .to_string();
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let errors: Vec<FieldError> = match kind.as_str() {
                "SparkApplication" => validate_application_json(&value),
                "ScheduledSparkApplication" => validate_scheduled_json(&value),
                "SparkConnect" => validate_connect_json(&value),
                _ => {
                    println!(
                        "{}: {kind} {name}: skipped (not a Spark resource)",
                        file.display()
                    );
                    continue;
                }
            };
            if errors.is_empty() {
                println!("{}: {kind} {name}: valid", file.display());
            } else {
                invalid += 1;
                println!(
                    "{}: {kind} {name}: {} problem(s)",
                    file.display(),
                    errors.len()
                );
                for error in errors {
                    println!("  {error}");
                }
            }
        }
    }
    if invalid > 0 {
        bail!("{invalid} resource(s) are invalid");
    }
    Ok(())
}
