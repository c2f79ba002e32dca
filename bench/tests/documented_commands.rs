//! Every spark-bench command a page shows (`cargo run -p bench -- ARGS`, `target/dist/spark-bench
//! ARGS`) passes only flags the binary takes, as its own `--help` lists them. Optional arguments
//! written in brackets (`[--sizes 100,1000]`) are read without them.

use std::process::Command;

use testkit::docs::{commands, flags, words};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-bench");

/// The arguments a command line passes to spark-bench, when it runs spark-bench.
fn bench_args(words: &[&str]) -> Option<Vec<String>> {
    let program = *words.first()?;
    let args = if program == "cargo" && words.get(1) == Some(&"run") {
        words.windows(2).find(|pair| pair == &["-p", "bench"])?;
        words.split(|w| *w == "--").nth(1).unwrap_or_default()
    } else if program.rsplit('/').next() == Some("spark-bench") {
        &words[1..]
    } else {
        return None;
    };
    Some(
        args.iter()
            .map(|a| a.trim_start_matches('[').trim_end_matches(']').to_string())
            .collect(),
    )
}

fn help() -> String {
    let output = Command::new(BINARY)
        .arg("--help")
        .output()
        .expect("spark-bench --help");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("help is text")
}

fn unknown_flags(help: &str, args: &[String]) -> Vec<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    flags(&args)
        .into_iter()
        .filter(|flag| !help.split_whitespace().any(|word| word == *flag))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_documented_bench_command_takes_only_flags_spark_bench_has() {
    let help = help();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (page, line) in commands() {
        let owned = words(&line);
        let words: Vec<&str> = owned.iter().map(String::as_str).collect();
        let Some(args) = bench_args(&words) else {
            continue;
        };
        checked += 1;
        for flag in unknown_flags(&help, &args) {
            wrong.push(format!("{page}: `{line}`: spark-bench takes no {flag}"));
        }
    }
    assert!(checked >= 3, "only {checked} spark-bench commands found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_flag_spark_bench_lacks_is_caught() {
    let args = bench_args(&["target/dist/spark-bench", "[--sizes", "10]", "--sizez", "1"]);
    let args = args.expect("a spark-bench command");
    assert_eq!(unknown_flags(&help(), &args), ["--sizez"]);
}
