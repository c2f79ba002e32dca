//! Every property path that Kubeflow's CRDs accept under `spec` and `status` must be accepted by
//! ours, with a compatible type, so that existing YAML applies unchanged; and the names, scope and
//! printer columns are Kubeflow's.
//!
//! Kubeflow's side is read from facts derived from its CRDs and committed in `tests/kubeflow/`
//! (see the README there): the CRDs themselves are not part of this repository.
//! `regenerate_kubeflow_facts` (ignored) derives the facts again, with the same code that derives
//! ours here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// Every property path under spec and status, with the kind of value it accepts.
const PROPERTY_PATHS: &str = "property-paths.txt";
/// Names, scope and printer columns.
const NAMES: &str = "names.txt";

fn facts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kubeflow")
}

fn read_facts(name: &str) -> String {
    let path = facts_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Our CRDs as JSON, by file name (Kubeflow's file names).
fn our_crds() -> BTreeMap<String, Value> {
    spark_operator_api::crd::all()
        .into_iter()
        .map(|(file, crd)| {
            let crd = serde_json::to_value(crd).expect("crd to json");
            (file.to_string(), crd)
        })
        .collect()
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
fn paths(schema: &Value, path: String, out: &mut BTreeMap<String, String>) {
    out.insert(path.clone(), kind_of(schema).to_string());
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

/// The versions a CRD serves, each with the paths of its spec and status.
fn versions(crd: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    versions
        .iter()
        .map(|version| {
            let name = version["name"].as_str().expect("version name").to_string();
            let root = &version["schema"]["openAPIV3Schema"];
            let mut out = BTreeMap::new();
            for top in ["spec", "status"] {
                if let Some(schema) = root["properties"].get(top) {
                    paths(schema, top.to_string(), &mut out);
                }
            }
            (name, out)
        })
        .collect()
}

/// The property path facts of `crds`: a `[FILE VERSION]` section for each version of each CRD,
/// with a `PATH KIND` line for each path.
fn property_path_facts(crds: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for (file, crd) in crds {
        for (version, paths) in versions(crd) {
            out.push_str(&format!("[{file} {version}]\n"));
            for (path, kind) in paths {
                out.push_str(&format!("{path} {kind}\n"));
            }
        }
    }
    out
}

/// The name facts of `crds`: a `[FILE]` section for each CRD, with its names, scope and the
/// printer columns of its first version (`column JSONPATH NAME`, sorted).
fn name_facts(crds: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for (file, crd) in crds {
        let spec = &crd["spec"];
        out.push_str(&format!("[{file}]\n"));
        for key in ["kind", "listKind", "plural", "singular"] {
            let value = spec["names"][key].as_str().unwrap_or_default();
            out.push_str(&format!("{key} {value}\n"));
        }
        let short: Vec<&str> = spec["names"]["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!("shortNames {}\n", short.join(" ")));
        let scope = spec["scope"].as_str().unwrap_or_default();
        out.push_str(&format!("scope {scope}\n"));
        let mut columns: Vec<String> = spec["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let path = c["jsonPath"].as_str().unwrap_or_default();
                let name = c["name"].as_str().unwrap_or_default();
                format!("column {path} {name}\n")
            })
            .collect();
        columns.sort();
        out.extend(columns);
    }
    out
}

/// The lines of each `[...]` section of a facts file, without comments and blank lines.
fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(header.to_string());
            sections.entry(header.to_string()).or_default();
        } else {
            let header = current
                .as_ref()
                .unwrap_or_else(|| panic!("{line:?} before any [section]"));
            sections
                .entry(header.clone())
                .or_default()
                .push(line.into());
        }
    }
    sections
}

/// Whether a value valid for `theirs` is valid for `ours`.
fn compatible(theirs: &str, ours: &str) -> bool {
    theirs == ours || (theirs == "integer" && ours == "int-or-string") || ours == "untyped"
}

#[test]
fn every_kubeflow_path_is_accepted_with_a_compatible_type() {
    let ours = sections(&property_path_facts(&our_crds()));
    let theirs = sections(&read_facts(PROPERTY_PATHS));
    let mut checked = 0;
    let mut problems = Vec::new();
    for (section, their_paths) in &theirs {
        let Some(our_lines) = ours.get(section) else {
            problems.push(format!("{section}: no such CRD version of ours"));
            continue;
        };
        let our_paths: BTreeMap<&str, &str> = our_lines
            .iter()
            .filter_map(|line| line.rsplit_once(' '))
            .collect();
        for line in their_paths {
            let (path, their_kind) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("{section}: {line:?} is not `PATH KIND`"));
            checked += 1;
            match our_paths.get(path) {
                None => problems.push(format!("{section}: missing {path} ({their_kind})")),
                Some(our_kind) if !compatible(their_kind, our_kind) => problems.push(format!(
                    "{section}: {path} is {our_kind}, Kubeflow has {their_kind}"
                )),
                Some(_) => {}
            }
        }
    }
    println!(
        "checked {checked} property paths of Kubeflow's CRDs: {} problems",
        problems.len()
    );
    assert!(
        checked > 4000,
        "too few paths checked ({checked}): the facts were not read"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn names_and_printer_columns_match_kubeflow() {
    let ours = sections(&name_facts(&our_crds()));
    let theirs = sections(&read_facts(NAMES));
    for (file, our_facts) in &ours {
        let their_facts = theirs
            .get(file)
            .unwrap_or_else(|| panic!("no facts of Kubeflow's {file} in {NAMES}"));
        assert_eq!(our_facts, their_facts, "{file}");
    }
}

/// The first lines of a facts file.
fn header(what: &str, commit: &str) -> String {
    format!(
        "# {what} of Kubeflow's CRDs: those of\n\
         # kubeflow/spark-operator in config/crd/bases/ at commit\n\
         # {commit}.\n\
         # crates/api/tests/kubeflow_compatibility.rs checks ours against them. Derived, not\n\
         # written by hand: README.md beside this file says how to derive it again.\n"
    )
}

#[test]
#[ignore = "writes tests/kubeflow/ from Kubeflow's CRDs in KUBEFLOW_CRDS (see its README)"]
fn regenerate_kubeflow_facts() {
    let dir = std::env::var_os("KUBEFLOW_CRDS")
        .map(PathBuf::from)
        .expect("KUBEFLOW_CRDS: the directory of Kubeflow's CRD files");
    let commit = std::env::var("KUBEFLOW_COMMIT")
        .expect("KUBEFLOW_COMMIT: the kubeflow/spark-operator commit they are from");
    let theirs: BTreeMap<String, Value> = our_crds()
        .into_keys()
        .map(|file| {
            let path = dir.join(&file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let crd: Value = serde_yaml::from_str(&text).expect("a CRD in YAML");
            (file, crd)
        })
        .collect();
    let paths = header(
        "Every property path under spec and status, with its kind,",
        &commit,
    ) + &property_path_facts(&theirs);
    let names = header("The names, scope and printer columns", &commit) + &name_facts(&theirs);
    for (name, text) in [(PROPERTY_PATHS, paths), (NAMES, names)] {
        let path = facts_dir().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    }
}
