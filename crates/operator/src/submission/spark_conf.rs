//! What `spark-submit --deploy-mode cluster` makes of the command before handing the SparkConf to
//! its Kubernetes client: non-`spark.` keys dropped, command-line options turned into their keys
//! (an option wins over the same key given with `--conf`), the main jar appended to `spark.jars`,
//! `spark.driver.host` removed, `spark.submit.pyFiles` and `spark.app.submitTime` always set.

use std::collections::BTreeMap;

use super::conf::SubmitCommand;
use super::spec::{MainResource, is_submitter_local};
use super::{SubmissionContext, SubmissionError};

/// The SparkConf spark-submit passes on, as a map.
pub fn effective_conf(
    command: &SubmitCommand,
    main: &MainResource,
    ctx: &SubmissionContext,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let mut conf: BTreeMap<String, String> = command
        .conf_map()
        .into_iter()
        .filter(|(key, _)| key.starts_with("spark."))
        .collect();
    let option = |flag: &str| {
        command
            .dependency_options
            .iter()
            .find(|(name, _)| *name == flag)
            .map(|(_, value)| value.clone())
    };

    conf.insert("spark.master".into(), command.master.clone());
    conf.insert("spark.submit.deployMode".into(), "cluster".into());
    conf.insert("spark.app.name".into(), command.name.clone());
    for (flag, key) in [
        ("--packages", "spark.jars.packages"),
        ("--repositories", "spark.jars.repositories"),
        ("--exclude-packages", "spark.jars.excludes"),
        ("--files", "spark.files"),
        ("--archives", "spark.archives"),
        ("--jars", "spark.jars"),
    ] {
        if let Some(value) = option(flag) {
            conf.insert(key.into(), value);
        }
    }

    match main {
        MainResource::Java(None) => return Err(SubmissionError::MissingMainApplicationFile),
        MainResource::Java(Some(file)) => {
            if command.main_class.is_none() {
                return Err(SubmissionError::MissingMainClass);
            }
            // spark-submit makes the main jar a dependency of JVM applications.
            let mut jars = split_list(conf.get("spark.jars").map(String::as_str).unwrap_or(""));
            jars.push(file.clone());
            conf.insert("spark.jars".into(), jars.join(","));
        }
        MainResource::Python(_) | MainResource::R(_) => {}
    }
    if let Some(file) = main.file().filter(|file| is_submitter_local(file)) {
        return Err(SubmissionError::LocalDependency {
            key: "mainApplicationFile".into(),
            uri: file.to_string(),
        });
    }

    // Cluster mode ignores a driver host given by the user: the driver Service sets it.
    conf.remove("spark.driver.host");

    let py_files = option("--py-files")
        .or_else(|| conf.get("spark.submit.pyFiles").cloned())
        .unwrap_or_default();
    conf.insert(
        "spark.submit.pyFiles".into(),
        split_list(&py_files).join(","),
    );
    for key in [
        "spark.jars",
        "spark.files",
        "spark.archives",
        "spark.submit.pyFiles",
    ] {
        if let Some(value) = conf.get(key) {
            let entries = split_list(value);
            if let Some(local) = entries.iter().find(|uri| is_submitter_local(uri)) {
                return Err(SubmissionError::LocalDependency {
                    key: key.into(),
                    uri: local.clone(),
                });
            }
            conf.insert(key.into(), entries.join(","));
        }
    }
    conf.entry("spark.app.submitTime".into())
        .or_insert_with(|| ctx.submit_time_ms.to_string());
    Ok(conf)
}

/// A comma-separated list, entries trimmed and blank ones dropped, as Spark reads list settings.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_drop_blank_entries() {
        assert_eq!(split_list("a,, b ,"), ["a", "b"]);
        assert!(split_list("").is_empty());
    }
}
