//! The corpus: one SparkApplication per file in `tests/equivalence/corpus/`, each put in a
//! namespace of its own (`eq-<file name>`) with a fixed uid, and the check that together the files
//! set every field of the spec.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kube::CustomResourceExt;
use serde_json::Value;
use spark_operator_api::SparkApplication;

pub struct Entry {
    /// The file name without `.yaml`.
    pub name: String,
    pub app: SparkApplication,
    /// The file as JSON, to see which fields it sets.
    pub raw: Value,
}

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/equivalence")
}

pub fn load() -> Vec<Entry> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir().join("corpus"))
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .expect("corpus file")
                .replace(
                    "${MAVEN_REPO}",
                    &format!("file://{}", maven_repo().display()),
                );
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let raw: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut app: SparkApplication =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let problems = spark_operator_api::validation::validate_application(&app);
            assert!(problems.is_empty(), "{name} is invalid: {problems:?}");
            app.metadata.namespace = Some(format!("eq-{name}"));
            app.metadata.uid = Some("0e9a1c53-0000-4000-8000-00000000e0e0".into());
            Entry { name, app, raw }
        })
        .collect()
}

/// The local Maven repository corpus files name as `${MAVEN_REPO}`.
pub fn maven_repo() -> PathBuf {
    std::env::temp_dir().join("spark-operator-equivalence-m2")
}

/// Creates the local Maven repository with the one package the corpus uses, `org.example:dep:1.0`
/// (a POM and an empty jar), so that spark-submit resolves `--packages` without a network.
pub fn create_maven_repo() {
    let dir = maven_repo().join("org/example/dep/1.0");
    std::fs::create_dir_all(&dir).expect("maven repository");
    let pom = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion><groupId>org.example</groupId><artifactId>dep</artifactId><version>1.0</version></project>\n";
    std::fs::write(dir.join("dep-1.0.pom"), pom).expect("pom written");
    // An empty zip archive: the end-of-central-directory record alone.
    let mut jar = b"PK\x05\x06".to_vec();
    jar.extend([0u8; 18]);
    std::fs::write(dir.join("dep-1.0.jar"), jar).expect("jar written");
}

/// The application types of the corpus.
pub fn types(corpus: &[Entry]) -> BTreeSet<String> {
    corpus
        .iter()
        .filter_map(|e| e.raw["spec"]["type"].as_str().map(str::to_string))
        .collect()
}

/// Fields of the CRD's spec that no corpus file sets: every field of `spec`, of the driver and
/// executor, and of the spec's own option objects (dependencies, dynamic allocation, monitoring
/// and Prometheus, restart policy, UI options, batch scheduler options, driver ingress options).
pub fn unused_fields(corpus: &[Entry]) -> Vec<String> {
    let crd = serde_json::to_value(SparkApplication::crd()).expect("CRD serialises");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let nested = [
        "driver",
        "executor",
        "deps",
        "dynamicAllocation",
        "monitoring",
        "monitoring.prometheus",
        "restartPolicy",
        "sparkUIOptions",
        "batchSchedulerOptions",
        "driverIngressOptions",
    ];
    let mut paths = Vec::new();
    for prefix in std::iter::once("").chain(nested) {
        let mut schema = spec;
        for part in prefix.split('.').filter(|p| !p.is_empty()) {
            schema = &schema["properties"][part];
            if schema["type"] == "array" {
                schema = &schema["items"];
            }
        }
        for key in schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .filter(|path| !corpus.iter().any(|e| sets(&e.raw["spec"], path)))
        .collect()
}

/// Whether `value` has something at the dotted `path` (lists: in any entry).
fn sets(value: &Value, path: &str) -> bool {
    let Some((head, rest)) = path.split_once('.') else {
        return match value {
            Value::Array(items) => items.iter().any(|v| sets(v, path)),
            _ => !value.get(path).is_none_or(Value::is_null),
        };
    };
    match value {
        Value::Array(items) => items.iter().any(|v| sets(v, path)),
        _ => value.get(head).is_some_and(|v| sets(v, rest)),
    }
}
