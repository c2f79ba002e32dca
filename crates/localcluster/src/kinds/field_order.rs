//! The order in which the API server writes the members of built-in objects. Kubernetes encodes
//! its Go structs, so members come in declaration order (`kind`, `apiVersion`, `metadata`,
//! `spec`, `status`, ...), while maps (labels, ConfigMap data) and custom resources, which it
//! holds as maps, come sorted by key. The table (`field_order.txt`) lists each type's members.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a member holds, as far as its order is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// A scalar, a map or anything else written with sorted keys.
    Plain,
    /// A type of the table (or a list of them).
    Typed(&'static str),
    /// Any object, typed by its own `apiVersion` and `kind` (a Table row's object, a List item).
    Embedded,
}

/// One type's members in the order they are written.
pub type Members = Vec<(&'static str, Member)>;

fn table() -> &'static HashMap<&'static str, Members> {
    static TABLE: OnceLock<HashMap<&'static str, Members>> = OnceLock::new();
    TABLE.get_or_init(|| parse(include_str!("field_order.txt")))
}

fn parse(text: &'static str) -> HashMap<&'static str, Members> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let members = words
                .map(|word| match word.split_once(':') {
                    Some((member, "*")) => (member, Member::Embedded),
                    Some((member, ty)) => (member, Member::Typed(ty)),
                    None => (word, Member::Plain),
                })
                .collect();
            Some((name, members))
        })
        .collect()
}

/// The members of one type of the table (`core.PodSpec`).
pub fn members(type_name: &str) -> Option<&'static Members> {
    table().get(type_name)
}

/// The Go package that serves an API group.
fn package(group: &str) -> Option<&'static str> {
    Some(match group {
        "" => "core",
        "apps" => "apps",
        "batch" => "batch",
        "autoscaling" => "autoscaling",
        "networking.k8s.io" => "networking",
        "policy" => "policy",
        "rbac.authorization.k8s.io" => "rbac",
        "coordination.k8s.io" => "coordination",
        "admissionregistration.k8s.io" => "admissionregistration",
        "events.k8s.io" => "events",
        "meta.k8s.io" => "meta",
        _ => return None,
    })
}

/// The type of an object with this `apiVersion` and `kind`, when the API server writes it as a Go
/// struct: `Pod` of `v1` is `core.Pod`, `Status` of any built-in group is `meta.Status`. Custom
/// resources have none.
pub fn root_type(api_version: &str, kind: &str) -> Option<&'static str> {
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let package = package(group)?;
    let table = table();
    [format!("{package}.{kind}"), format!("meta.{kind}")]
        .into_iter()
        .find_map(|name| table.get_key_value(name.as_str()).map(|(key, _)| *key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_start_with_their_type_then_metadata() {
        let pod = members(root_type("v1", "Pod").unwrap()).unwrap();
        let names: Vec<&str> = pod.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["kind", "apiVersion", "metadata", "spec", "status"]);
        assert_eq!(pod[2].1, Member::Typed("meta.ObjectMeta"));
        let meta = members("meta.ObjectMeta").unwrap();
        assert_eq!(meta[0].0, "name");
        assert_eq!(meta[1].0, "generateName");
        assert_eq!(meta[2].0, "namespace");
    }

    #[test]
    fn statuses_lists_and_tables_are_typed_in_any_group() {
        assert_eq!(root_type("v1", "Status"), Some("meta.Status"));
        assert_eq!(root_type("apps/v1", "Status"), Some("meta.Status"));
        assert_eq!(
            root_type("apps/v1", "DeploymentList"),
            Some("apps.DeploymentList")
        );
        assert_eq!(root_type("meta.k8s.io/v1", "Table"), Some("meta.Table"));
        assert_eq!(
            root_type("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
            None
        );
        let row = members("meta.TableRow").unwrap();
        assert!(row.contains(&("object", Member::Embedded)));
    }
}
