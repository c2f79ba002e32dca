//! `list` and `status`.

use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use spark_operator_api::SparkApplication;

use super::{application, applications};
use crate::cli::Format;
use crate::connect::Connection;
use crate::output::{Paint, age, state_name, table};

pub(super) fn print_structured<T: serde::Serialize>(
    value: &T,
    format: Format,
) -> anyhow::Result<bool> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(value)?),
        Format::Table | Format::Wide => return Ok(false),
    }
    Ok(true)
}

pub(super) fn time(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "<none>".into())
}

pub async fn list(
    connection: &Connection,
    all_namespaces: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let api: Api<SparkApplication> = if all_namespaces {
        Api::all(connection.client.clone())
    } else {
        applications(connection)
    };
    let mut apps = api.list(&ListParams::default()).await?.items;
    apps.sort_by_key(|a| (a.namespace(), a.name_any()));
    if print_structured(&apps, format)? {
        return Ok(ExitCode::SUCCESS);
    }
    if apps.is_empty() {
        eprintln!(
            "No SparkApplications in {}.",
            if all_namespaces {
                "any namespace".into()
            } else {
                format!("namespace {}", connection.namespace)
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = jiff::Timestamp::now();
    let mut header = vec!["NAME", "STATE", "ATTEMPTS", "START", "FINISH", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if format == Format::Wide {
        header.extend(["DRIVER", "APPLICATION ID"]);
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|app| {
            let status = app.status.clone().unwrap_or_default();
            let mut row = vec![
                app.name_any(),
                state_name(status.application_state.state).to_string(),
                status.execution_attempts.unwrap_or(0).to_string(),
                time(status.last_submission_attempt_time.as_ref()),
                time(status.termination_time.as_ref()),
                app.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| age(t.0, now))
                    .unwrap_or_default(),
            ];
            if all_namespaces {
                row.insert(0, app.namespace().unwrap_or_default());
            }
            if format == Format::Wide {
                row.push(
                    status
                        .driver_info
                        .pod_name
                        .unwrap_or_else(|| "<none>".into()),
                );
                row.push(
                    status
                        .spark_application_id
                        .unwrap_or_else(|| "<none>".into()),
                );
            }
            row
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

pub async fn status(
    connection: &Connection,
    name: &str,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let app = application(connection, name).await?;
    if print_structured(&app, format)? {
        return Ok(ExitCode::SUCCESS);
    }
    let paint = Paint::stdout();
    let status = app.status.clone().unwrap_or_default();
    let state = status.application_state.state;
    let field = |label: &str, value: String| println!("{:<14}{value}", paint.bold(label));
    field(
        "Name:",
        format!(
            "{} (namespace {})",
            app.name_any(),
            app.namespace().unwrap_or_default()
        ),
    );
    field("State:", paint.state(state));
    if let Some(error) = &status.application_state.error_message {
        field("Error:", error.clone());
    }
    field(
        "Attempts:",
        format!(
            "{} run, {} submitted",
            status.execution_attempts.unwrap_or(0),
            status.submission_attempts.unwrap_or(0)
        ),
    );
    field(
        "Submitted:",
        time(status.last_submission_attempt_time.as_ref()),
    );
    field("Finished:", time(status.termination_time.as_ref()));
    if let Some(id) = &status.spark_application_id {
        field("Spark app id:", id.clone());
    }
    let driver = &status.driver_info;
    field(
        "Driver pod:",
        driver.pod_name.clone().unwrap_or_else(|| "<none>".into()),
    );
    let ui = match (
        &driver.web_ui_ingress_address,
        &driver.web_ui_address,
        &driver.web_ui_service_name,
    ) {
        (Some(ingress), _, _) => ingress.clone(),
        (None, Some(address), Some(service)) => {
            format!("{address} (service {service}; `sparkctl forward {name}` to open it)")
        }
        (None, Some(address), None) => address.clone(),
        _ => "<none>".into(),
    };
    field("Spark UI:", ui);
    if status.executor_state.is_empty() {
        field("Executors:", "<none>".into());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", paint.bold("Executors:"));
    let pods: Api<Pod> = Api::namespaced(
        connection.client.clone(),
        &app.namespace().unwrap_or_default(),
    );
    let selector = format!("sparkoperator.k8s.io/app-name={name},spark-role=executor");
    let ids: std::collections::BTreeMap<String, String> = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|list| list.items)
        .unwrap_or_default()
        .into_iter()
        .map(|pod| {
            let id = pod
                .labels()
                .get("spark-exec-id")
                .cloned()
                .unwrap_or_default();
            (pod.name_any(), id)
        })
        .collect();
    let rows: Vec<Vec<String>> = status
        .executor_state
        .iter()
        .map(|(pod, state)| {
            let state = serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            vec![
                format!(
                    "  {}",
                    ids.get(pod)
                        .cloned()
                        .or_else(|| executor_id_from_name(pod))
                        .unwrap_or_else(|| "?".into())
                ),
                pod.clone(),
                state,
            ]
        })
        .collect();
    print!("{}", table(&["  ID", "POD", "STATE"], &rows));
    Ok(ExitCode::SUCCESS)
}

/// Spark names executor pods `<prefix>-exec-<id>`: the id of an executor whose pod is gone.
fn executor_id_from_name(pod: &str) -> Option<String> {
    let (_, id) = pod.rsplit_once("-exec-")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::executor_id_from_name;

    #[test]
    fn a_gone_executor_is_known_by_its_pod_name() {
        assert_eq!(
            executor_id_from_name("pi-6b9743339406e6ea-exec-12").as_deref(),
            Some("12")
        );
        assert_eq!(executor_id_from_name("pi-driver"), None);
        assert_eq!(executor_id_from_name("pi-exec-"), None);
        assert_eq!(executor_id_from_name("pi-exec-1a"), None);
    }
}
