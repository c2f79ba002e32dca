//! Server-side printing: `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` turns a get, list
//! or watch into `Table` rows, with a CRD's printer columns or the usual columns of built-ins.

use serde_json::{Value, json};

use super::jsonpath;
use crate::kinds::{PrinterColumn, ResourceType};
use crate::meta;

/// Whether the client asked for a Table (kubectl get does, for human-readable output).
pub fn wants_table(accept: &str) -> bool {
    super::meta_forms(accept).any(|form| form == "Table")
}

/// `includeObject`: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// How a column's cell is computed.
enum Cell {
    Path(String),
    Function(fn(&Value) -> Value),
}

struct Column {
    name: String,
    column_type: String,
    format: String,
    description: String,
    priority: i64,
    /// Dates print as ages ("5m").
    is_date: bool,
    cell: Cell,
}

fn column(name: &str, column_type: &str, priority: i64, cell: fn(&Value) -> Value) -> Column {
    Column {
        name: name.into(),
        column_type: column_type.into(),
        format: if name == "Name" {
            "name".into()
        } else {
            String::new()
        },
        description: String::new(),
        priority,
        is_date: false,
        cell: Cell::Function(cell),
    }
}

fn name_column() -> Column {
    let mut name = column("Name", "string", 0, |o| json!(meta::name(o)));
    name.description = "Name must be unique within a namespace.".into();
    name
}

fn age_column() -> Column {
    let mut age = column("Age", "string", 0, |o| {
        json!(
            o.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null)
        )
    });
    age.is_date = true;
    age
}

fn text_or_none(value: Option<&Value>) -> Value {
    match value.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(text) => json!(text),
        None => json!("<none>"),
    }
}

fn count(value: Option<&Value>) -> Value {
    json!(value.and_then(Value::as_object).map_or(0, |m| m.len()))
}

fn pod_ready(pod: &Value) -> Value {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
    json!(format!("{ready}/{total}"))
}

/// `Init:ErrImagePull`, `Init:1/2`, ... while init containers have not all completed.
fn init_status(pod: &Value) -> Option<String> {
    let statuses = pod.pointer("/status/initContainerStatuses")?.as_array()?;
    for (index, container) in statuses.iter().enumerate() {
        let terminated = &container["state"]["terminated"];
        let waiting = container["state"]["waiting"]["reason"].as_str();
        if terminated.is_object() {
            if terminated["exitCode"] == 0 {
                continue;
            }
            return Some(match terminated["reason"].as_str() {
                Some(reason) if !reason.is_empty() => format!("Init:{reason}"),
                _ => format!("Init:ExitCode:{}", terminated["exitCode"]),
            });
        }
        return Some(match waiting {
            Some(reason) if !reason.is_empty() && reason != "PodInitializing" => {
                format!("Init:{reason}")
            }
            _ => format!("Init:{index}/{}", statuses.len()),
        });
    }
    None
}

fn pod_status(pod: &Value) -> Value {
    if meta::deletion_timestamp(pod).is_some() {
        return json!("Terminating");
    }
    if let Some(initializing) = init_status(pod) {
        return json!(initializing);
    }
    let waiting = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|c| {
            c.pointer("/state/waiting/reason")
                .or_else(|| c.pointer("/state/terminated/reason"))
                .and_then(Value::as_str)
        });
    let reason = pod.pointer("/status/reason").and_then(Value::as_str);
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    json!(reason.or(waiting).or(phase).unwrap_or("Unknown"))
}

fn pod_restarts(pod: &Value) -> Value {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    json!(statuses.map_or(0, |s| {
        s.iter()
            .filter_map(|c| c["restartCount"].as_i64())
            .sum::<i64>()
    }))
}

fn service_ports(service: &Value) -> Value {
    let ports: Vec<String> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p["port"].as_i64().unwrap_or(0);
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(node) => format!("{port}:{node}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        json!("<none>")
    } else {
        json!(ports.join(","))
    }
}

fn node_status(node: &Value) -> Value {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"] == "True");
    json!(match ready {
        Some(true) => "Ready",
        _ => "NotReady",
    })
}

/// `requests.cpu: 500m/2, pods: 1/10`: used over hard of a quota's `limits.*` resources (or of
/// the others), as the API server prints them.
fn quota_column(quota: &Value, limits: bool) -> Value {
    let hard = quota.pointer("/status/hard").and_then(Value::as_object);
    let used = quota.pointer("/status/used");
    let parts: Vec<String> = hard
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.starts_with("limits.") == limits)
        .map(|(name, hard)| {
            let used = used
                .and_then(|u| u.get(name))
                .and_then(Value::as_str)
                .unwrap_or("0");
            format!("{name}: {used}/{}", hard.as_str().unwrap_or_default())
        })
        .collect();
    json!(parts.join(", "))
}

/// At most three entries, then `+ N more...`; `empty` when there are none.
fn first_three(entries: Vec<String>, empty: &str) -> Value {
    match entries.len() {
        0 => json!(empty),
        1..=3 => json!(entries.join(",")),
        n => json!(format!("{} + {} more...", entries[..3].join(","), n - 3)),
    }
}

/// `IP:PORT` for each address and port of an Endpoints' subsets.
fn endpoints_column(endpoints: &Value) -> Value {
    let mut entries = Vec::new();
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<String> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["port"].to_string())
            .collect();
        for address in subset["addresses"].as_array().into_iter().flatten() {
            let ip = address["ip"].as_str().unwrap_or_default();
            if ports.is_empty() {
                entries.push(ip.to_string());
            }
            entries.extend(ports.iter().map(|port| format!("{ip}:{port}")));
        }
    }
    first_three(entries, "<none>")
}

fn slice_ports(slice: &Value) -> Value {
    let ports = slice["ports"].as_array().into_iter().flatten();
    first_three(ports.map(|p| p["port"].to_string()).collect(), "<unset>")
}

fn slice_addresses(slice: &Value) -> Value {
    let endpoints = slice["endpoints"].as_array().into_iter().flatten();
    let addresses = endpoints.flat_map(|e| e["addresses"].as_array().into_iter().flatten());
    let addresses = addresses.filter_map(|a| a.as_str().map(str::to_string));
    first_three(addresses.collect(), "<unset>")
}

fn builtin_columns(resource: &ResourceType) -> Vec<Column> {
    let mut columns = vec![name_column()];
    match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "pods") => {
            columns.push(column("Ready", "string", 0, pod_ready));
            columns.push(column("Status", "string", 0, pod_status));
            columns.push(column("Restarts", "string", 0, pod_restarts));
            columns.push(age_column());
            columns.push(column("IP", "string", 1, |p| {
                text_or_none(p.pointer("/status/podIP"))
            }));
            columns.push(column("Node", "string", 1, |p| {
                text_or_none(p.pointer("/spec/nodeName"))
            }));
            columns.push(column("Nominated Node", "string", 1, |p| {
                text_or_none(p.pointer("/status/nominatedNodeName"))
            }));
            columns.push(column("Readiness Gates", "string", 1, |_| json!("<none>")));
            return columns;
        }
        ("", "namespaces") => columns.push(column("Status", "string", 0, |n| {
            text_or_none(n.pointer("/status/phase"))
        })),
        ("", "nodes") => {
            columns.push(column("Status", "string", 0, node_status));
            columns.push(column("Roles", "string", 0, |_| json!("<none>")));
            columns.push(age_column());
            columns.push(column("Version", "string", 0, |n| {
                text_or_none(n.pointer("/status/nodeInfo/kubeletVersion"))
            }));
            return columns;
        }
        ("", "services") => {
            columns.push(column("Type", "string", 0, |s| {
                text_or_none(s.pointer("/spec/type"))
            }));
            columns.push(column("Cluster-IP", "string", 0, |s| {
                text_or_none(s.pointer("/spec/clusterIP"))
            }));
            columns.push(column("External-IP", "string", 0, |_| json!("<none>")));
            columns.push(column("Port(s)", "string", 0, service_ports));
            columns.push(age_column());
            columns.push(column("Selector", "string", 1, |s| {
                let selector: Vec<String> = s
                    .pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                if selector.is_empty() {
                    json!("<none>")
                } else {
                    json!(selector.join(","))
                }
            }));
            return columns;
        }
        ("", "configmaps") => columns.push(column("Data", "integer", 0, |c| {
            json!(
                count(c.get("data")).as_u64().unwrap_or(0)
                    + count(c.get("binaryData")).as_u64().unwrap_or(0)
            )
        })),
        ("", "secrets") => {
            columns.push(column("Type", "string", 0, |s| text_or_none(s.get("type"))));
            columns.push(column("Data", "integer", 0, |s| count(s.get("data"))));
        }
        ("", "persistentvolumeclaims") => {
            columns.push(column("Status", "string", 0, |p| {
                text_or_none(p.pointer("/status/phase"))
            }));
            columns.push(column("Volume", "string", 0, |p| {
                text_or_none(p.pointer("/spec/volumeName"))
            }));
            columns.push(column("Capacity", "string", 0, |p| {
                text_or_none(p.pointer("/status/capacity/storage"))
            }));
        }
        ("", "resourcequotas") => {
            columns.push(age_column());
            columns.push(column("Request", "string", 0, |q| quota_column(q, false)));
            columns.push(column("Limit", "string", 0, |q| quota_column(q, true)));
            return columns;
        }
        ("", "limitranges") => {
            columns.push(column("Created At", "date", 0, |l| {
                text_or_none(l.pointer("/metadata/creationTimestamp"))
            }));
            return columns;
        }
        ("", "endpoints") => columns.push(column("Endpoints", "string", 0, endpoints_column)),
        ("discovery.k8s.io", "endpointslices") => {
            columns.push(column("AddressType", "string", 0, |s| {
                text_or_none(s.get("addressType"))
            }));
            columns.push(column("Ports", "string", 0, slice_ports));
            columns.push(column("Endpoints", "string", 0, slice_addresses));
        }
        ("coordination.k8s.io", "leases") => {
            columns.push(column("Holder", "string", 0, |l| {
                text_or_none(l.pointer("/spec/holderIdentity"))
            }));
        }
        ("", "events") | ("events.k8s.io", "events") => {
            columns.push(column("Type", "string", 0, |e| text_or_none(e.get("type"))));
            columns.push(column("Reason", "string", 0, |e| {
                text_or_none(e.get("reason"))
            }));
            columns.push(column("Message", "string", 0, |e| {
                text_or_none(e.get("message").or_else(|| e.get("note")))
            }));
        }
        _ => {}
    }
    columns.push(age_column());
    columns
}

fn printer_column(column: &PrinterColumn) -> Column {
    Column {
        name: column.name.clone(),
        column_type: if column.column_type == "date" {
            "string".into()
        } else {
            column.column_type.clone()
        },
        format: column.format.clone(),
        description: column.description.clone(),
        priority: column.priority,
        is_date: column.column_type == "date",
        cell: Cell::Path(column.json_path.clone()),
    }
}

fn columns(resource: &ResourceType) -> Vec<Column> {
    match &resource.custom {
        Some(custom) if !custom.printer_columns.is_empty() => std::iter::once(name_column())
            .chain(custom.printer_columns.iter().map(printer_column))
            .collect(),
        Some(_) => vec![name_column(), age_column()],
        None => builtin_columns(resource),
    }
}

fn cell_value(column: &Column, object: &Value) -> Value {
    let value = match &column.cell {
        Cell::Function(compute) => compute(object),
        Cell::Path(path) => match jsonpath::select(object, path).as_slice() {
            [] => Value::Null,
            [one] => (*one).clone(),
            many => json!(
                many.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        },
    };
    if column.is_date {
        return match value
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        {
            Some(time) => json!(human_age(
                jiff::Timestamp::now().duration_since(time).as_secs()
            )),
            None => json!("<unknown>"),
        };
    }
    match (&value, column.column_type.as_str()) {
        (Value::Object(_) | Value::Array(_), _) => json!(value.to_string()),
        _ => value,
    }
}

fn column_definitions(columns: &[Column]) -> Vec<Value> {
    columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.column_type, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect()
}

fn row(columns: &[Column], object: &Value, include: IncludeObject) -> Value {
    let cells: Vec<Value> = columns.iter().map(|c| cell_value(c, object)).collect();
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": object.get("metadata").cloned().unwrap_or(json!({}))});
        }
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

/// A Table of `objects`; `list_metadata` is the list's (resourceVersion, continue).
pub fn table(
    resource: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let columns = columns(resource);
    let rows: Vec<Value> = objects.iter().map(|o| row(&columns, o, include)).collect();
    let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata, "rows": rows});
    if with_columns {
        table["columnDefinitions"] = json!(column_definitions(&columns));
    }
    table
}

/// Kubernetes' short human durations: `45s`, `3m20s`, `2d5h`, `3y10d`.
pub fn human_age(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => pair(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => pair(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => pair(days, "d", hours % 24, "h"),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => pair(years, "y", days % 365, "d"),
        _ => format!("{years}y"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kinds;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(200), "3m20s");
        assert_eq!(human_age(600), "10m");
        assert_eq!(human_age(3 * 3600 + 5 * 60), "3h5m");
        assert_eq!(human_age(50 * 3600), "2d2h");
    }

    #[test]
    fn recognises_table_requests() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn pods_print_ready_and_status() {
        let kinds = Kinds::with_builtins();
        let pods = kinds.lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": meta::now()},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2}]}});
        let table = table(&pods, &[pod], json!({}), IncludeObject::Metadata, true);
        assert_eq!(
            table["rows"][0]["cells"],
            json!([
                "p", "1/1", "Running", 2, "0s", "<none>", "<none>", "<none>", "<none>"
            ])
        );
        assert_eq!(table["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "p");
    }
}
