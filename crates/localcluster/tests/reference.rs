//! `docs/reference/cli-localcluster.md` is the `localcluster` binary's help: regenerate it with
//! `UPDATE_REFERENCE=1 cargo test --workspace --test reference` when this fails.

use std::path::Path;

use testkit::reference::{self, cli};

#[test]
fn the_localcluster_command_reference_is_fresh() {
    let page = cli::page(
        "localcluster",
        Path::new(env!("CARGO_BIN_EXE_localcluster")),
        "the `localcluster` binary's clap definitions (`crates/localcluster/src/main.rs`)",
    );
    assert!(page.contains("Usage:"), "{page}");
    reference::check("cli-localcluster.md", &page);
}
