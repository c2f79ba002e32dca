//! The documentation as its tests read it: which pages there are, and the command lines their
//! code blocks show, so that every crate checks the commands of its own binaries against the
//! same reading of the pages.

use std::path::{Path, PathBuf};

use crate::repository;

/// The pages a user reads: the README, every Markdown file under `docs/`, and the READMEs of the
/// crates and of the benchmark.
pub fn pages() -> Vec<PathBuf> {
    let root = repository();
    let mut pages = vec![root.join("README.md"), root.join("bench/README.md")];
    pages.extend(markdown_under(&root.join("docs")));
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let readme = entry.expect("entry").path().join("README.md");
        if readme.is_file() {
            pages.push(readme);
        }
    }
    pages.sort();
    pages
}

fn markdown_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a docs folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    found
}

/// A page's name as a failure message shows it: its path in the repository.
pub fn page_name(page: &Path) -> String {
    page.strip_prefix(repository())
        .unwrap_or(page)
        .display()
        .to_string()
}

/// The command lines of a page's code blocks, as a shell reads them: a line ending in `\` joined
/// with the next, a `$ ` prompt, a trailing `&` and a `# comment` dropped, blank lines skipped.
/// Lines that are not commands (YAML, output) come too; a caller keeps those of its program.
pub fn command_lines(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_code = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            pending.clear();
            continue;
        }
        if !in_code {
            continue;
        }
        let line = line.trim();
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let command = std::mem::take(&mut pending);
        let command = command.strip_prefix("$ ").unwrap_or(&command);
        let command = command.split(" #").next().unwrap_or_default();
        let command = command.trim().trim_end_matches('&').trim();
        if !command.is_empty() && !command.starts_with('#') {
            commands.push(command.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    commands
}

/// Every command line of every page, with its page's name.
pub fn commands() -> Vec<(String, String)> {
    pages()
        .iter()
        .flat_map(|page| {
            let text = std::fs::read_to_string(page).expect("page");
            let name = page_name(page);
            command_lines(&text)
                .into_iter()
                .map(move |command| (name.clone(), command))
        })
        .collect()
}

/// A command line's words as a shell passes them to the program (quotes removed); split at
/// whitespace when its quoting is broken.
pub fn words(command: &str) -> Vec<String> {
    shell_words::split(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_string).collect())
}

/// The flags (`--name`, `-n`) among a command's arguments, without their `=value`.
pub fn flags<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter()
        .filter(|arg| arg.starts_with('-') && **arg != "-" && **arg != "--")
        .map(|arg| arg.split('=').next().unwrap_or(arg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_read_as_a_shell_reads_them() {
        let page = "text `not code`\n```bash\n$ helm install x chart \\\n  --set a=b   # why\n\
                    # a comment\n\nserver --port 0 &\n```\n```yaml\nkind: Pod\n```\n";
        assert_eq!(
            command_lines(page),
            [
                "helm install x chart --set a=b",
                "server --port 0",
                "kind: Pod"
            ]
        );
        assert_eq!(
            flags(&["get", "pods", "-A", "--output=yaml", "--", "x"]),
            ["-A", "--output"]
        );
        assert_eq!(
            words("helm --set 'a={b}' x"),
            ["helm", "--set", "a={b}", "x"]
        );
    }
}
