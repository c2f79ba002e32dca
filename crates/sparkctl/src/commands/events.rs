//! `event NAME [--follow]`.

use std::process::ExitCode;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use super::application;
use crate::connect::Connection;
use crate::output::table;

fn row(event: &Event) -> Vec<String> {
    let when = event
        .last_timestamp
        .as_ref()
        .or(event.first_timestamp.as_ref())
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .map(|t| t.strftime("%H:%M:%S").to_string())
        .unwrap_or_default();
    let count = event
        .count
        .filter(|c| *c > 1)
        .map(|c| format!(" (x{c})"))
        .unwrap_or_default();
    vec![
        when,
        event.type_.clone().unwrap_or_default(),
        event.reason.clone().unwrap_or_default(),
        format!(
            "{}{count}",
            event.message.clone().unwrap_or_default().replace('\n', " ")
        ),
    ]
}

pub async fn run(connection: &Connection, name: &str, follow: bool) -> anyhow::Result<ExitCode> {
    let app = application(connection, name).await?;
    show(connection, "SparkApplication", name, app.uid(), follow).await
}

/// The Events about the `kind` named `name` (with `uid`, when known), oldest first; with
/// `follow`, new ones as they come.
pub(super) async fn show(
    connection: &Connection,
    kind: &str,
    name: &str,
    uid: Option<String>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let events: Api<Event> = Api::namespaced(connection.client.clone(), &connection.namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut list: Vec<Event> = events
        .list(&ListParams::default().fields(&selector))
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.uid.is_none() || e.involved_object.uid == uid)
        .collect();
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    let header = ["TIME", "TYPE", "REASON", "MESSAGE"];
    print!(
        "{}",
        table(&header, &list.iter().map(row).collect::<Vec<_>>())
    );
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let seen: std::collections::HashSet<String> = list.iter().map(|e| e.name_any()).collect();
    let mut stream = watcher(events, watcher::Config::default().fields(&selector))
        .applied_objects()
        .boxed();
    while let Some(event) = stream.next().await {
        let event = event?;
        if seen.contains(&event.name_any()) && event.count.unwrap_or(1) <= 1 {
            continue;
        }
        println!("{}", row(&event).join("   "));
    }
    Ok(ExitCode::SUCCESS)
}
