//! Every property path that Kubeflow's CRDs accept under `spec` and `status` must be accepted by ours,
//! with a compatible type, so that existing YAML applies unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/kubeflow-crds")
}

/// The kind of value a schema accepts, at the granularity that decides whether YAML still applies.
fn kind_of(schema: &Value) -> &'static str {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return "int-or-string";
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object")
            if schema
                .get("additionalProperties")
                .is_some_and(Value::is_object) =>
        {
            "map"
        }
        Some("object") => "object",
        Some("array") => "array",
        Some("string") => "string",
        Some("integer") => "integer",
        Some("number") => "number",
        Some("boolean") => "boolean",
        _ => "untyped",
    }
}

/// Path → kind, for every property reachable from `schema`.
fn paths(schema: &Value, path: String, out: &mut BTreeMap<String, &'static str>) {
    out.insert(path.clone(), kind_of(schema));
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            paths(sub, format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        paths(items, format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        paths(values, format!("{path}{{}}"), out);
    }
}

fn root_schema(crd: &Value, version: &str) -> Value {
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    let v = versions
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("version {version} not in CRD {}", crd["metadata"]["name"]));
    v["schema"]["openAPIV3Schema"].clone()
}

fn spec_and_status_paths(root: &Value) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    for top in ["spec", "status"] {
        if let Some(s) = root["properties"].get(top) {
            paths(s, top.to_string(), &mut out);
        }
    }
    out
}

/// Whether a value valid for `theirs` is valid for `ours`.
fn compatible(theirs: &str, ours: &str) -> bool {
    theirs == ours || (theirs == "integer" && ours == "int-or-string") || ours == "untyped"
}

#[test]
fn every_kubeflow_path_is_accepted_with_a_compatible_type() {
    let ours: BTreeMap<String, Value> = spark_operator_api::crd::all()
        .into_iter()
        .map(|(file, crd)| {
            (
                file.to_string(),
                serde_json::to_value(crd).expect("crd to json"),
            )
        })
        .collect();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, our_crd) in &ours {
        let text = std::fs::read_to_string(reference_dir().join(file))
            .unwrap_or_else(|e| panic!("reading reference {file}: {e}"));
        let reference: Value = serde_yaml::from_str(&text).expect("reference YAML");
        for version in reference["spec"]["versions"].as_array().expect("versions") {
            let name = version["name"].as_str().expect("version name");
            let theirs = spec_and_status_paths(&root_schema(&reference, name));
            let ours = spec_and_status_paths(&root_schema(our_crd, name));
            for (path, their_kind) in &theirs {
                checked += 1;
                match ours.get(path) {
                    None => problems.push(format!("{file} {name}: missing {path} ({their_kind})")),
                    Some(our_kind) if !compatible(their_kind, our_kind) => problems.push(format!(
                        "{file} {name}: {path} is {our_kind}, Kubeflow has {their_kind}"
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    println!(
        "checked {checked} property paths of Kubeflow's CRDs: {} problems",
        problems.len()
    );
    assert!(
        checked > 4000,
        "too few paths checked ({checked}): the reference was not read"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn names_and_printer_columns_match_kubeflow() {
    for (file, ours) in spark_operator_api::crd::all() {
        let text = std::fs::read_to_string(reference_dir().join(file)).expect("reference");
        let reference: Value = serde_yaml::from_str(&text).expect("reference YAML");
        let ours = serde_json::to_value(ours).expect("crd to json");
        for key in ["kind", "plural", "singular", "listKind"] {
            assert_eq!(
                ours["spec"]["names"][key], reference["spec"]["names"][key],
                "{file} {key}"
            );
        }
        let short = |v: &Value| v["spec"]["names"]["shortNames"].clone();
        assert_eq!(short(&ours), short(&reference), "{file} shortNames");
        assert_eq!(
            ours["spec"]["scope"], reference["spec"]["scope"],
            "{file} scope"
        );
        let columns = |v: &Value| -> Vec<(String, String)> {
            let mut cols: Vec<_> = v["spec"]["versions"][0]["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["jsonPath"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            cols.sort();
            cols
        };
        assert_eq!(
            columns(&ours),
            columns(&reference),
            "{file} printer columns"
        );
    }
}
