//! The reference pages under `docs/reference/`, generated from what the code declares (the CRD
//! schemas, each binary's clap help, the chart's values and schema, the metrics registry), and
//! the check that keeps them fresh: a test renders a page and [`check`] fails when the committed
//! one differs, or writes it when `UPDATE_REFERENCE=1` is set.
//!
//! Every page is rendered by a pure function from its source text, so that the same input always
//! gives the same page.

pub mod api;
pub mod cli;
pub mod helm_values;
pub mod metrics;

use std::path::PathBuf;

/// The environment variable that makes [`check`] write the pages instead of comparing them.
pub const UPDATE: &str = "UPDATE_REFERENCE";

/// The command that regenerates every reference page.
pub const REGENERATE: &str = "UPDATE_REFERENCE=1 cargo test --workspace --test reference";

/// Where a page lives: `docs/reference/<file>` of the repository.
pub fn page_path(file: &str) -> PathBuf {
    crate::repository().join("docs/reference").join(file)
}

/// Compares the committed page with `generated`; writes it instead when [`UPDATE`] is `1`.
/// Panics, naming the command that refreshes it, when the committed page is stale.
pub fn check(file: &str, generated: &str) {
    let path = page_path(file);
    if std::env::var(UPDATE).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("docs/reference")).expect("docs/reference");
        std::fs::write(&path, generated).expect("write the reference page");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "docs/reference/{file} is stale (first difference at line {}): run `{REGENERATE}`",
            first + 1
        );
    }
}

/// The header of every generated page.
pub fn header(title: &str, source: &str) -> String {
    format!("# {title}\n\n<!-- Generated from {source} by `{REGENERATE}`; do not edit. -->\n\n")
}

/// Text made safe for one Markdown table cell: one line, pipes escaped.
pub fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
