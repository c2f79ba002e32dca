//! A stand-in for `helm template`: no helm binary can be installed on the project's machines
//! (Helm is not packaged for Debian, PyPI or npm, the only registries they reach), so the tests
//! render the chart with this instead. It renders as `helm template` does: the chart's values
//! merged with overrides, the `.Release`, `.Chart`, `.Capabilities` and `.Files` built-ins, every
//! `define` of every template file, and each template not starting with `_` rendered into YAML
//! documents. The Go template language is implemented as far as the chart uses it (see parse.rs
//! and funcs.rs); anything else (an unknown function, a missing `end`, a nil field of a nil
//! value) is an error that names it, never a silent difference from Helm. [`install`] applies
//! the result with kubectl, as `helm install` would.

mod exec;
mod funcs;
pub mod install;
mod parse;
mod schema;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The project's chart, `deploy/helm/spark-operator`.
pub fn chart_dir() -> PathBuf {
    crate::repository().join("deploy/helm/spark-operator")
}

/// A release to render: its name, namespace and the values overriding the chart's
/// (`--set`/`-f`, as one YAML document).
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub values: &'a str,
}

/// One rendered template: its path in the chart and its output.
pub struct Rendered {
    pub template: String,
    pub output: String,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn yaml_to_json(text: &str, what: &str) -> Result<Value, String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("{what}: {e}"))?;
    serde_json::to_value(value).map_err(|e| format!("{what}: {e}"))
}

/// Values of `overrides` replace those of `base`; maps merge key by key.
fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overrides) => *base = overrides,
    }
}

/// Every file under `dir`, by its path relative to `root` (what `.Files.Get` is given).
fn files_under(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            files_under(root, &path, files)?;
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            let relative = path.strip_prefix(root).map_err(|e| e.to_string())?;
            files.insert(relative.to_string_lossy().replace('\\', "/"), text);
        }
    }
    Ok(())
}

/// Renders the chart in `chart_dir` for `release`: each template's output, in file-name order.
pub fn render(chart_dir: &Path, release: &Release) -> Result<Vec<Rendered>, String> {
    render_with_api_versions(chart_dir, release, &[])
}

/// [`render`] for a cluster that serves `api_versions` besides the built-in ones (`helm template
/// --api-versions`), e.g. `cert-manager.io/v1/Certificate`. Values are checked against the
/// chart's `values.schema.json` first, when it has one, as Helm checks them.
pub fn render_with_api_versions(
    chart_dir: &Path,
    release: &Release,
    api_versions: &[&str],
) -> Result<Vec<Rendered>, String> {
    let chart = yaml_to_json(&read(&chart_dir.join("Chart.yaml"))?, "Chart.yaml")?;
    let mut values = yaml_to_json(&read(&chart_dir.join("values.yaml"))?, "values.yaml")?;
    if !release.values.trim().is_empty() {
        merge(
            &mut values,
            yaml_to_json(release.values, "the release's values")?,
        );
    }
    let schema_file = chart_dir.join("values.schema.json");
    if schema_file.exists() {
        let schema: Value = serde_json::from_str(&read(&schema_file)?)
            .map_err(|e| format!("values.schema.json: {e}"))?;
        schema::validate(&schema, &values)
            .map_err(|errors| format!("values don't meet the specifications of the schema(s) in the following chart(s):\n{}:\n- {}", chart["name"].as_str().unwrap_or_default(), errors.join("\n- ")))?;
    }
    // Helm exposes Chart.yaml's fields with capitalised names.
    let chart_object: serde_json::Map<String, Value> = chart
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let mut name = k.clone();
            name[..1].make_ascii_uppercase();
            (name, v.clone())
        })
        .collect();
    let mut files = BTreeMap::new();
    files_under(chart_dir, chart_dir, &mut files)?;
    let mut templates: Vec<(String, String)> = files
        .iter()
        .filter(|(path, _)| path.starts_with("templates/"))
        .map(|(p, t)| (p.clone(), t.clone()))
        .collect();
    templates.sort();

    let mut parsed = Vec::new();
    let mut defines = HashMap::new();
    for (path, text) in &templates {
        let file = parse::parse(text).map_err(|e| format!("{path}: {e}"))?;
        for (name, body) in file.defines {
            defines.insert(name, body);
        }
        parsed.push((path.clone(), file.root));
    }
    let engine = exec::Engine { defines, files };
    let mut rendered = Vec::new();
    for (path, root) in parsed {
        let name = path.rsplit('/').next().unwrap_or_default();
        if name.starts_with('_') || name == "NOTES.txt" {
            continue;
        }
        let context = json!({
            "Values": values,
            "Chart": chart_object,
            "Release": {
                "Name": release.name,
                "Namespace": release.namespace,
                "Service": "Helm",
                "IsInstall": true,
                "IsUpgrade": false,
                "Revision": 1,
            },
            "Capabilities": {
                "KubeVersion": {"Version": "v1.32.0", "Major": "1", "Minor": "32"},
                "APIVersions": api_versions,
            },
            "Template": {
                "Name": format!("{}/{path}", chart["name"].as_str().unwrap_or_default()),
                "BasePath": format!("{}/templates", chart["name"].as_str().unwrap_or_default()),
            },
        });
        let output = engine
            .render(&root, &context, 0)
            .map_err(|e| format!("{path}: {e}"))?;
        rendered.push(Rendered {
            template: path,
            output,
        });
    }
    Ok(rendered)
}

/// The rendered templates as one multi-document YAML stream, as `helm template` prints it.
pub fn manifest(rendered: &[Rendered]) -> String {
    let mut out = String::new();
    for template in rendered {
        for document in template.output.split("\n---") {
            let document = document.trim_start_matches("---").trim_matches('\n');
            if document
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            out.push_str(&format!(
                "---\n# Source: {}\n{document}\n",
                template.template
            ));
        }
    }
    out
}

/// Renders one template source over `data` (its defines available to it), for testing the
/// template language itself.
pub fn render_source(source: &str, data: &Value) -> Result<String, String> {
    let file = parse::parse(source)?;
    let engine = exec::Engine {
        defines: file.defines.into_iter().collect(),
        files: BTreeMap::from([("files/a.yaml".to_string(), "- a\n".to_string())]),
    };
    engine.render(&file.root, data, 0)
}
