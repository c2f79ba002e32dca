//! Every command a page shows is one a user can type: our binaries' commands take the subcommands
//! and flags their generated references list, and the other programs' commands are checked by
//! those programs themselves: kubectl, cargo, helm and docker list the flags of each subcommand in
//! their `--help`, a `helm install` of the chart renders with real helm and the values the page
//! sets, and every file or folder a command names exists. spark-bench's commands are checked by
//! the bench's own tests, which can run its binary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use testkit::docs::{commands, flags, words};
use testkit::helm::HELM_INSTALL;
use testkit::{program_on_path, repository};

/// The programs whose command lines the pages may show; a line of any of them is checked, and one
/// no check knows fails.
const PROGRAMS: &[&str] = &[
    "cargo",
    "kubectl",
    "helm",
    "docker",
    "sparkctl",
    "spark-operator",
    "spark-local",
    "localcluster",
    "spark-bench",
    "kustomize",
];

/// Which of our binaries a `cargo run` runs: by `--bin` or by the package of `-p`.
fn binary_of_cargo_run(args: &[&str]) -> Option<&'static str> {
    let chosen = args
        .windows(2)
        .find(|pair| pair[0] == "--bin" || pair[0] == "-p")
        .map(|pair| pair[1])?;
    [
        ("spark-operator", "spark-operator"),
        ("sparkctl", "sparkctl"),
        ("spark-local", "spark-local"),
        ("localcluster", "localcluster"),
        ("bench", "spark-bench"),
    ]
    .into_iter()
    .find(|(name, _)| *name == chosen)
    .map(|(_, binary)| binary)
}

/// The command line of one of our binaries a line runs (`cargo run ... -- ARGS` or the binary
/// itself), as (binary, arguments).
fn our_command<'a>(words: &[&'a str]) -> Option<(&'static str, Vec<&'a str>)> {
    if words.first() == Some(&"cargo") && words.get(1) == Some(&"run") {
        let binary = binary_of_cargo_run(words)?;
        let args = words.split(|w| *w == "--").nth(1).unwrap_or_default();
        return Some((binary, args.to_vec()));
    }
    let program = *words.first()?;
    ["sparkctl", "spark-operator", "spark-local", "localcluster"]
        .into_iter()
        .find(|binary| *binary == program)
        .map(|binary| (binary, words[1..].to_vec()))
}

/// What is wrong with a command line of one of our binaries, by its generated reference page.
fn check_ours(binary: &str, args: &[&str]) -> Vec<String> {
    if binary == "spark-bench" {
        return Vec::new(); // bench/tests/documented_commands.rs
    }
    let reference = repository().join(format!("docs/reference/cli-{binary}.md"));
    let help = std::fs::read_to_string(&reference).expect("command reference");
    let mut wrong = Vec::new();
    if let Some(first) = args.first()
        && !first.starts_with('-')
        && !first.contains(['/', '.'])
        && !help.contains(&format!("## `{binary} {first}"))
    {
        wrong.push(format!("{binary} has no subcommand {first}"));
    }
    for flag in flags(args).into_iter().filter(|f| f.starts_with("--")) {
        if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
            wrong.push(format!("{binary} takes no {flag}"));
        }
    }
    wrong
}

/// A program's `--help` for a subcommand.
fn help_of(program: &PathBuf, subcommand: &[&str]) -> String {
    output_of(program, &[subcommand, &["--help"]].concat())
}

/// What a program prints with `args`, asked once per program and arguments.
fn output_of(program: &PathBuf, args: &[&str]) -> String {
    static ASKED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let key = format!("{} {}", program.display(), args.join(" "));
    let mut asked = ASKED.lock().expect("help cache");
    asked
        .entry(key)
        .or_insert_with(|| {
            let output = Command::new(program)
                .args(args)
                .env("HOME", std::env::temp_dir())
                .output()
                .expect("run --help");
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr)
        })
        .clone()
}

/// Whether a `--help` text lists `flag` (as `--flag`, `-f, --flag` or `--flag=...`).
fn lists_flag(help: &str, flag: &str) -> bool {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
        .any(|word| word == flag)
}

/// The leading words of a command that name its subcommand (up to the first flag or argument
/// that is not one), given the subcommands the program has.
fn subcommand<'a>(args: &[&'a str], known: &[&str]) -> Vec<&'a str> {
    args.iter()
        .take_while(|word| known.contains(word))
        .copied()
        .collect()
}

/// The flags that name files a command reads.
const FILE_FLAGS: &[&str] = &["-f", "--filename", "-k", "--kustomize", "--values"];

/// The files a command reads by a flag (`-f examples/x.yaml`, `-k deploy/kustomize`).
fn file_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.windows(2)
        .filter(|pair| FILE_FLAGS.contains(&pair[0]))
        .map(|pair| pair[1])
        .collect()
}

/// A file a page tells the reader to write (`your-values.yaml`): not the repository's, so not
/// checked, but the command is run without it.
fn is_the_readers_own(path: &str) -> bool {
    path.starts_with("your-") || path.starts_with("my-")
}

/// The repository's files and folders a command names that do not exist.
fn missing_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    paths
        .into_iter()
        .filter(|path| !is_the_readers_own(path) && !repository().join(path).exists())
        .map(|path| format!("no such path {path}"))
        .collect()
}

/// The words of a command with the leading flags that come before its subcommand moved after it
/// (`kubectl -n ns logs x` reads as `kubectl logs x -n ns`).
fn subcommand_first<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let leading = args
        .iter()
        .position(|a| !a.starts_with('-'))
        .map(|at| {
            if at > 0 && !args[at - 1].contains('=') {
                at + 1
            } else {
                at
            }
        })
        .unwrap_or(args.len())
        .min(args.len());
    args[leading..]
        .iter()
        .chain(&args[..leading])
        .copied()
        .collect()
}

fn unknown_flags(program: &PathBuf, sub: &[&str], args: &[&str], global: &str) -> Vec<String> {
    let help = help_of(program, sub) + global;
    flags(args)
        .into_iter()
        .filter(|flag| !lists_flag(&help, flag))
        .map(|flag| format!("{} {} takes no {flag}", program.display(), sub.join(" ")))
        .collect()
}

fn check_kubectl(args: &[&str]) -> Vec<String> {
    let kubectl = testkit::kubectl::program().to_path_buf();
    let args = &subcommand_first(args);
    let sub = subcommand(
        args,
        &[
            "get",
            "apply",
            "describe",
            "logs",
            "delete",
            "create",
            "scale",
            "rollout",
            "status",
            "exec",
            "cp",
            "port-forward",
            "kustomize",
            "edit",
            "patch",
            "wait",
        ],
    );
    let global = output_of(&kubectl, &["options"]);
    let mut wrong = unknown_flags(&kubectl, &sub, args, &global);
    wrong.extend(missing_paths(file_args(args)));
    wrong
}

fn check_cargo(args: &[&str]) -> Vec<String> {
    let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let sub = subcommand(args, &["run", "build", "test", "clippy", "fmt"]);
    let before_program_args = args.split(|a| *a == "--").next().unwrap_or_default();
    let mut wrong = unknown_flags(&cargo, &sub, before_program_args, "");
    let workspace = std::fs::read_to_string(repository().join("Cargo.toml")).expect("Cargo.toml");
    for pair in before_program_args.windows(2) {
        match pair {
            ["-p", package] if !packages().contains(&package.to_string()) => {
                wrong.push(format!("no package {package}"))
            }
            ["--profile", profile]
                if !["dev", "release"].contains(profile)
                    && !workspace.contains(&format!("[profile.{profile}]")) =>
            {
                wrong.push(format!("no profile {profile}"))
            }
            ["--test", target] if !test_targets().contains(&target.to_string()) => {
                wrong.push(format!("no test target {target}"))
            }
            _ => {}
        }
    }
    wrong
}

/// The workspace's package names, read from each member's manifest.
fn packages() -> Vec<String> {
    members()
        .iter()
        .filter_map(|dir| {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
            let line = manifest.lines().find(|l| l.starts_with("name = "))?;
            Some(
                line.trim_start_matches("name = ")
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .collect()
}

fn members() -> Vec<PathBuf> {
    let root = repository();
    let mut dirs = vec![root.join("bench")];
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        dirs.push(entry.expect("entry").path());
    }
    dirs
}

/// The integration test targets of every package: the files under its `tests/`.
fn test_targets() -> Vec<String> {
    members()
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir.join("tests")).ok())
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

fn check_helm(args: &[&str]) -> Vec<String> {
    let helm = program_on_path("helm", HELM_INSTALL);
    let sub = subcommand(
        args,
        &["install", "upgrade", "uninstall", "template", "lint"],
    );
    let mut wrong = unknown_flags(&helm, &sub, args, &help_of(&helm, &[]));
    let installs = matches!(sub.as_slice(), ["install"] | ["upgrade"]);
    let chart = args.get(2).filter(|_| installs).copied();
    wrong.extend(missing_paths(file_args(args).into_iter().chain(chart)));
    if wrong.is_empty() && installs {
        wrong.extend(render_with_helm(&helm, &args[1..]));
    }
    wrong
}

/// Renders what a documented `helm install RELEASE CHART FLAGS` would install, with the same
/// release, chart, namespace and values, as `helm template`: real helm, no cluster needed.
fn render_with_helm(helm: &PathBuf, release_chart_flags: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    let mut words = release_chart_flags.iter();
    while let Some(word) = words.next() {
        match words.clone().next() {
            Some(file) if FILE_FLAGS.contains(word) && is_the_readers_own(file) => {
                words.next();
            }
            _ => args.push(*word),
        }
    }
    let output = Command::new(helm)
        .arg("template")
        .args(args)
        .current_dir(repository())
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run helm template");
    if output.status.success() {
        Vec::new()
    } else {
        vec![format!(
            "helm template {} failed: {}",
            release_chart_flags.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )]
    }
}

fn check_docker(args: &[&str]) -> Vec<String> {
    let docker = program_on_path("docker", "apt-get install docker.io");
    let sub = subcommand(args, &["build", "run", "push"]);
    let mut wrong = unknown_flags(&docker, &sub, args, "");
    if sub == ["build"] && !repository().join("Dockerfile").is_file() {
        wrong.push("docker build without a Dockerfile at the repository's root".into());
    }
    wrong
}

#[test]
fn every_documented_command_is_one_its_program_takes() {
    let mut wrong = Vec::new();
    let mut checked = BTreeMap::<&str, usize>::new();
    for (page, line) in commands() {
        let owned = words(&line);
        let words: Vec<&str> = owned.iter().map(String::as_str).collect();
        let Some(program) = PROGRAMS.iter().find(|p| words.first() == Some(*p)) else {
            continue;
        };
        let args = &words[1..];
        let problems = match our_command(&words) {
            Some((binary, args)) => check_ours(binary, &args),
            None => match *program {
                "kubectl" => check_kubectl(args),
                "cargo" => check_cargo(args),
                "helm" => check_helm(args),
                "docker" => check_docker(args),
                other => vec![format!("no check knows {other}'s commands")],
            },
        };
        *checked.entry(program).or_default() += 1;
        wrong.extend(
            problems
                .into_iter()
                .map(|p| format!("{page}: `{line}`: {p}")),
        );
    }
    for program in ["cargo", "kubectl", "helm"] {
        assert!(
            checked.get(program).copied().unwrap_or_default() >= 2,
            "too few {program} commands found ({checked:?}): is the reading of the pages broken?"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_wrong_flag_or_path_is_caught() {
    assert_eq!(
        check_kubectl(&["get", "pods", "--all-namespace"]).len(),
        1,
        "a misspelt kubectl flag"
    );
    assert!(check_kubectl(&["apply", "-f", "examples/spark-pi.yaml", "-n", "x"]).is_empty());
    assert!(check_kubectl(&["-n", "x", "logs", "deploy/x"]).is_empty());
    assert_eq!(
        check_kubectl(&["apply", "-f", "examples/nope.yaml"]).len(),
        1
    );
    assert_eq!(
        check_cargo(&["test", "-p", "spark-operator", "--test", "nope"]).len(),
        1
    );
    assert_eq!(check_cargo(&["build", "--profile", "fast"]).len(), 1);
    let chart = "deploy/helm/spark-operator";
    assert!(check_helm(&["install", "r", chart, "--set", "controller.replicas=2"]).is_empty());
    assert_eq!(
        check_helm(&["install", "r", chart, "--sett", "a=b"]).len(),
        1
    );
    let bad_value = check_helm(&["install", "r", chart, "--set", "controller.replicas=many"]);
    assert_eq!(
        bad_value.len(),
        1,
        "the chart's schema refuses it: {bad_value:?}"
    );
    assert_eq!(
        check_ours("sparkctl", &["status", "--no-such-flag"]),
        ["sparkctl takes no --no-such-flag"]
    );
}
