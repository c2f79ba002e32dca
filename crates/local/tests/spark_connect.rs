//! `spark-local examples/spark-connect.yaml`: a local Spark Connect endpoint in one command. With
//! Spark installed the server is real, and a `pyspark[connect]` client queries it through the URL
//! the command prints; without Spark (unless `REQUIRE_SPARK` is set, as in CI) the server is
//! simulated and only the URL is checked.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use testkit::{repository, scratch};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-local");

fn spark_installed() -> bool {
    let found = spark_operator::submitter::spark_submit::find_spark_home(None).is_ok();
    assert!(
        found || std::env::var_os("REQUIRE_SPARK").is_none(),
        "REQUIRE_SPARK is set but Spark is missing"
    );
    found
}

#[test]
fn serves_spark_connect_until_stopped_and_answers_a_query() {
    let real = spark_installed();
    let scratch = scratch("connect");
    let mut command = Command::new(BINARY);
    if !real {
        command.arg("--simulated");
    }
    let mut child = command
        .args(["--timeout-seconds", "240"])
        .arg(repository().join("examples/spark-connect.yaml"))
        .arg("--kubeconfig")
        .arg(scratch.path().join("kubeconfig"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = received
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("no sc:// URL within 300 s:\n{}", seen.join("\n")));
        if let Some(url) = line.strip_prefix("Spark Connect is serving: ") {
            break url.to_string();
        }
        seen.push(line);
    };
    assert!(url.starts_with("sc://") && url.ends_with(":15002"), "{url}");
    if real {
        let query = format!(
            "from pyspark.sql import SparkSession\n\
             spark = SparkSession.builder.remote({url:?}).getOrCreate()\n\
             print(spark.range(1, 1000001).selectExpr('sum(id)').collect()[0][0])\n"
        );
        let output = Command::new("python3")
            .arg("-c")
            .arg(&query)
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&output.stdout);
        assert!(
            answer.trim().ends_with("500000500000"),
            "{answer}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "spark-local stops cleanly on SIGTERM: {status:?}"
    );
}
