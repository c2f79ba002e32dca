//! `create -f FILE` and `create --from SCHEDULED_NAME`, with `--wait`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::naming::scheduled_run_name;
use spark_operator_api::{
    ApplicationStateType as State, ScheduledSparkApplication, SparkApplication,
};

use crate::cli::CreateArgs;
use crate::connect::{Connection, creation_error};
use crate::documents::{self, Document};
use crate::output::Paint;
use crate::upload;
use std::path::Path;

pub async fn run(connection: &Connection, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let mut created = Vec::new();
    if let Some(scheduled) = &args.from {
        created.push(create_from_scheduled(connection, scheduled).await?);
    }
    let destination = args
        .upload_to
        .as_deref()
        .map(upload::Destination::parse)
        .transpose()?;
    if let Some(file) = args.yaml_file() {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        for document in documents::read(file)? {
            match document {
                Document::Application(mut app) => {
                    if let Some(destination) = &destination {
                        upload_dependencies(
                            connection,
                            &mut app,
                            destination,
                            args.upload_endpoint.as_deref(),
                            &base,
                        )
                        .await?;
                    }
                    created.push(create(connection, *app).await?)
                }
                Document::Scheduled(scheduled) => create_scheduled(connection, *scheduled).await?,
            }
        }
    }
    if !args.wait || created.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let waiting = wait(connection, &created);
    tokio::time::timeout(Duration::from_secs(args.timeout_seconds), waiting)
        .await
        .map_err(|_| {
            anyhow!(
                "the applications did not end within {}s (they keep running)",
                args.timeout_seconds
            )
        })?
}

/// Uploads the application's local files and points its spec at the copies.
async fn upload_dependencies(
    connection: &Connection,
    app: &mut SparkApplication,
    destination: &upload::Destination,
    endpoint: Option<&str>,
    base: &Path,
) -> anyhow::Result<()> {
    let namespace = connection.namespace_for(app.metadata.namespace.as_deref())?;
    let (uploads, rewritten) =
        upload::plan(&app.spec, destination, &namespace, &app.name_any(), base);
    if uploads.is_empty() {
        return Ok(());
    }
    let store = upload::store(destination, endpoint)?;
    upload::upload(store.as_ref(), &uploads).await?;
    for (file, key) in &uploads {
        println!("uploaded {} to {}", file.display(), destination.uri(key));
    }
    app.spec = rewritten;
    Ok(())
}

/// Creates one application; returns (namespace, name).
async fn create(
    connection: &Connection,
    mut app: SparkApplication,
) -> anyhow::Result<(String, String)> {
    let namespace = connection.namespace_for(app.metadata.namespace.as_deref())?;
    app.metadata.namespace = Some(namespace.clone());
    let name = app.name_any();
    let api: Api<SparkApplication> = Api::namespaced(connection.client.clone(), &namespace);
    api.create(&PostParams::default(), &app)
        .await
        .map_err(|e| creation_error(e, "sparkapplication", &name, &namespace))?;
    println!("sparkapplication {name} created");
    Ok((namespace, name))
}

async fn create_scheduled(
    connection: &Connection,
    mut scheduled: ScheduledSparkApplication,
) -> anyhow::Result<()> {
    let namespace = connection.namespace_for(scheduled.metadata.namespace.as_deref())?;
    scheduled.metadata.namespace = Some(namespace.clone());
    let name = scheduled.name_any();
    let api: Api<ScheduledSparkApplication> =
        Api::namespaced(connection.client.clone(), &namespace);
    api.create(&PostParams::default(), &scheduled)
        .await
        .map_err(|e| creation_error(e, "scheduledsparkapplication", &name, &namespace))?;
    println!("scheduledsparkapplication {name} created");
    Ok(())
}

/// A run of the scheduled application's template, now, owned by it (so deleting the schedule
/// deletes it) but not counted in its run history.
async fn create_from_scheduled(
    connection: &Connection,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let api: Api<ScheduledSparkApplication> =
        Api::namespaced(connection.client.clone(), &connection.namespace);
    let scheduled = api.get_opt(name).await?.with_context(|| {
        format!(
            "ScheduledSparkApplication {name} not found in namespace {}; `kubectl get scheduledsparkapp` lists them",
            connection.namespace
        )
    })?;
    let owner = OwnerReference {
        api_version: ScheduledSparkApplication::api_version(&()).into_owned(),
        kind: ScheduledSparkApplication::kind(&()).into_owned(),
        name: name.to_string(),
        uid: scheduled.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    };
    let mut labels: BTreeMap<String, String> = scheduled.labels().clone();
    labels.insert("sparkoperator.k8s.io/created-from".into(), name.to_string());
    let app = SparkApplication {
        metadata: ObjectMeta {
            name: Some(scheduled_run_name(name, jiff::Timestamp::now().as_second())),
            namespace: Some(connection.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: scheduled.spec.template.clone(),
        status: None,
    };
    create(connection, app).await
}

/// Prints each state change until every application ended; fails when one FAILED.
async fn wait(connection: &Connection, apps: &[(String, String)]) -> anyhow::Result<ExitCode> {
    let paint = Paint::stdout();
    let mut last: BTreeMap<&(String, String), State> = BTreeMap::new();
    let mut failed = Vec::new();
    loop {
        let mut running = 0;
        for key in apps {
            let (namespace, name) = key;
            let api: Api<SparkApplication> = Api::namespaced(connection.client.clone(), namespace);
            let Some(app) = api.get_opt(name).await? else {
                return Err(anyhow!("sparkapplication {name} was deleted while waiting"));
            };
            let status = app.status.unwrap_or_default();
            let state = status.application_state.state;
            if last.get(key) != Some(&state) {
                last.insert(key, state);
                let attempts = status.execution_attempts.unwrap_or(0);
                let mut line = format!("{name}\t{}\tattempts={attempts}", paint.state(state));
                if let Some(error) = status
                    .application_state
                    .error_message
                    .as_deref()
                    .filter(|_| state == State::Failed)
                {
                    line.push_str(&format!("\t{error}"));
                }
                println!("{line}");
                if state == State::Failed {
                    failed.push(name.clone());
                }
            }
            if !matches!(state, State::Completed | State::Failed) {
                running += 1;
            }
        }
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{}: {}", paint.state(State::Failed), failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
