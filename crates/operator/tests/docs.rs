//! The documentation as a reader follows it: every relative link of the README and of the pages
//! under `docs/` leads to a file of the repository (and, with a `#fragment`, to a heading or an
//! anchor of that page), every guide page is reachable from the README, every example a page
//! names is a file under `examples/`. The commands the pages show are checked in
//! docs_commands.rs.

use std::collections::BTreeSet;
use std::path::Path;

use testkit::docs::pages;
use testkit::repository;

/// The targets of the inline links `[text](target)` of a Markdown text, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page offers: its headings' slugs and its `<a id="...">` tags.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            found.insert(slug(heading.trim_start_matches('#')));
        }
        if let Some(at) = line.find("<a id=\"") {
            let id = &line[at + 7..];
            if let Some(end) = id.find('"') {
                found.insert(id[..end].to_string());
            }
        }
    }
    found
}

fn broken_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).expect("page");
    let mut broken = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
        let target = if file.is_empty() {
            page.to_path_buf()
        } else {
            page.parent().expect("a page's folder").join(file)
        };
        if !target.exists() {
            broken.push(format!("{link}: no such file"));
            continue;
        }
        if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
            let target_text = std::fs::read_to_string(&target).expect("linked page");
            if !anchors(&target_text).contains(fragment) {
                broken.push(format!("{link}: no heading or anchor #{fragment}"));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        for problem in broken_links(&page) {
            let name = page
                .strip_prefix(repository())
                .unwrap_or(&page)
                .display()
                .to_string();
            broken.push(format!("{name}: {problem}"));
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_guide_page_is_linked_from_the_readme() {
    let readme = std::fs::read_to_string(repository().join("README.md")).expect("README.md");
    let linked: BTreeSet<String> = links(&readme)
        .into_iter()
        .map(|l| l.split('#').next().unwrap_or_default().to_string())
        .collect();
    let missing: Vec<String> = pages()
        .iter()
        .filter_map(|p| p.strip_prefix(repository()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("docs/") && !linked.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "pages the README does not link: {missing:?}"
    );
}

#[test]
fn the_readme_stays_short_with_the_quick_start_first() {
    let readme = std::fs::read_to_string(repository().join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    assert!(lines.len() <= 170, "README.md has {} lines", lines.len());
    let command = lines
        .iter()
        .position(|l| l.contains("cargo run --release --bin spark-local"))
        .expect("the quick start's command");
    assert!(
        command < 25,
        "the quick start's command is on line {}",
        command + 1
    );
}

#[test]
fn every_example_a_page_names_exists() {
    let mut missing = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for (at, _) in text.match_indices("examples/") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
                .collect();
            if name.ends_with(".yaml") && !repository().join(&name).exists() {
                missing.push(format!("{}: {name}", page.display()));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:?}");
}
