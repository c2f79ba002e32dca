//! The flag reference of a binary: the clap help of the binary and of every subcommand, found by
//! reading the `Commands:` section of each help text.

use std::path::Path;
use std::process::Command;

use super::header;

/// The help text of `binary` with `args` then `--help`, run with an empty environment so that
/// no `[env: NAME=value]` of the machine's environment leaks into the page.
pub fn help(binary: &Path, args: &[String]) -> String {
    let output = Command::new(binary)
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", binary.display()));
    assert!(
        output.status.success(),
        "{} {} --help failed: {}",
        binary.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under `Commands:`, but `help`.
pub fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // A name is indented by two; a wrapped description by more.
            if line.starts_with("   ") {
                continue;
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The page of `name` (the binary at `binary`): its help, then each subcommand's, depth first.
pub fn page(name: &str, binary: &Path, source: &str) -> String {
    let mut out = header(&format!("`{name}` command reference"), source);
    out.push_str(&format!(
        "Every command of `{name}` with its flags, as `{name} ... --help` prints them.\n"
    ));
    let mut pending = vec![Vec::<String>::new()];
    while let Some(args) = pending.pop() {
        let text = help(binary, &args);
        let title = std::iter::once(name.to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "\n## `{title}`\n\n```text\n{}\n```\n",
            text.trim_end()
        ));
        for sub in subcommands(&text).into_iter().rev() {
            let mut next = args.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::subcommands;

    #[test]
    fn subcommands_are_read_from_the_commands_section() {
        let help = "Does things\n\nUsage: tool <COMMAND>\n\nCommands:\n  start  Start it\n  \
                    crd    Print the CRDs, or write them\n           to a directory\n  help   \
                    Print this message\n\nOptions:\n  -h, --help  Print help\n";
        assert_eq!(subcommands(help), ["start", "crd"]);
        assert!(subcommands("Usage: tool [OPTIONS]\n").is_empty());
    }
}
