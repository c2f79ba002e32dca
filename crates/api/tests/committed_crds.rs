//! The CRD YAML under `deploy/crds/` is what the types generate: regenerate it with
//! `cargo run --bin spark-operator -- crd --output-dir deploy/crds` when this fails.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

#[test]
fn committed_crds_are_fresh() {
    let mut stale = Vec::new();
    for (file, crd) in spark_operator_api::crd::all() {
        let generated = spark_operator_api::crd::to_yaml(&crd).expect("serialize CRD");
        let committed = std::fs::read_to_string(crd_dir().join(file)).unwrap_or_default();
        if committed != generated {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale CRDs {stale:?}: run `cargo run --bin spark-operator -- crd --output-dir deploy/crds`"
    );
}

#[test]
fn no_hand_written_crd_sits_beside_the_generated_ones() {
    let generated: BTreeSet<String> = spark_operator_api::crd::all()
        .into_iter()
        .map(|(file, _)| file.to_string())
        .collect();
    let committed: BTreeSet<String> = std::fs::read_dir(crd_dir())
        .expect("deploy/crds")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(committed, generated);
}
