//! `docs/reference/cli-spark-local.md` is `spark-local`'s help: regenerate it with
//! `UPDATE_REFERENCE=1 cargo test --workspace --test reference` when this fails.

use std::path::Path;

use testkit::reference::{self, cli};

#[test]
fn the_spark_local_command_reference_is_fresh() {
    let page = cli::page(
        "spark-local",
        Path::new(env!("CARGO_BIN_EXE_spark-local")),
        "`spark-local`'s clap definitions (`crates/local/src/main.rs`)",
    );
    assert!(page.contains("--keep-running"), "{page}");
    reference::check("cli-spark-local.md", &page);
}
