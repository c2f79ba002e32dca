//! `docs/reference/cli-sparkctl.md` is `sparkctl`'s help: regenerate it with
//! `UPDATE_REFERENCE=1 cargo test --workspace --test reference` when this fails.

use std::path::Path;

use testkit::reference::{self, cli};

#[test]
fn the_sparkctl_command_reference_is_fresh() {
    let page = cli::page(
        "sparkctl",
        Path::new(env!("CARGO_BIN_EXE_sparkctl")),
        "`sparkctl`'s clap definitions (`crates/sparkctl/src/cli.rs`)",
    );
    assert!(page.contains("## `sparkctl create`"), "{page}");
    reference::check("cli-sparkctl.md", &page);
}
