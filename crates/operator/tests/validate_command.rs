//! `spark-operator validate`, run as a user runs it.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spark-operator"))
        .arg("validate")
        .args(files)
        .output()
        .expect("run spark-operator");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn every_example_is_valid() {
    let examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    let (ok, output) = validate(&examples);
    assert!(ok, "{output}");
    assert!(
        output.contains("SparkApplication spark-pi: valid"),
        "{output}"
    );
    assert!(
        output.contains("ScheduledSparkApplication spark-pi-scheduled: valid"),
        "{output}"
    );
}

#[test]
fn problems_are_listed_with_their_fields_and_fail_the_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata:\n  name: broken\nspec:\n  type: Scala\n  sparkVersion: 4.0.0\n  image: apache/spark:4.0.0\n  mainApplicationFile: local:///app.jar\n  driver:\n    memory: 512x\n",
    )
    .expect("write");
    let (ok, output) = validate(&[file]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("spec.driver.memory: \"512x\" is not a Spark size"),
        "{output}"
    );
    assert!(output.contains("spec.mainClass: is missing"), "{output}");
    assert!(output.contains("1 resource(s) are invalid"), "{output}");
}
