//! `spark-operator validate`, run as a user runs it.

use std::path::PathBuf;
use std::process::Command;

use spark_operator_api::SparkApplication;
use testkit::fixtures::SparkApplicationFixture;
use testkit::{repository, scratch};

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
    let examples: Vec<PathBuf> = std::fs::read_dir(repository().join("examples"))
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
    assert!(
        output.contains("SparkConnect spark-connect: valid"),
        "{output}"
    );
}

#[test]
fn problems_are_listed_with_their_fields_and_fail_the_command() {
    let dir = scratch("validate");
    let file = dir.path().join("broken.yaml");
    let broken = SparkApplication::spark_pi("broken").with(|app| {
        app.spec.main_class = None;
        app.spec.driver.pod.memory = Some("512x".into());
    });
    std::fs::write(&file, broken.to_yaml()).expect("write");
    let (ok, output) = validate(&[file]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("spec.driver.memory: \"512x\" is not a Spark size"),
        "{output}"
    );
    assert!(output.contains("spec.mainClass: is missing"), "{output}");
    assert!(output.contains("1 resource(s) are invalid"), "{output}");
}

#[test]
fn files_are_read_as_kubectl_reads_them() {
    let dir = scratch("validate-input");
    // JSON as Python's json.dump writes an emoji: a surrogate pair, which YAML does not allow.
    let json = serde_json::to_string(&SparkApplication::spark_pi("rocket"))
        .expect("JSON")
        .replacen(
            "\"metadata\":{",
            "\"metadata\":{\"annotations\":{\"note\":\"\\ud83d\\ude80\"},",
            1,
        );
    assert!(json.contains("\\ud83d"), "{json}");
    let json_file = dir.path().join("rocket.json");
    std::fs::write(&json_file, json).expect("write");
    let (ok, output) = validate(std::slice::from_ref(&json_file));
    assert!(
        ok && output.contains("SparkApplication rocket: valid"),
        "{output}"
    );

    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "---\n# nothing yet\n").expect("write");
    let (ok, output) = validate(&[empty]);
    assert!(!ok, "an empty file is not a success: {output}");
    assert!(output.contains("holds no objects"), "{output}");
}
