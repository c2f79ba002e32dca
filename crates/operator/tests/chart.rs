//! Static checks of the Helm chart (tests/chart_install.rs renders, installs and runs it): the
//! RBAC templates include the rules files that tests/runtime.rs checks against the operator's
//! real requests, the chart's CRDs are the generated ones, every flag the Deployment passes is
//! one `controller start` accepts, every value a template reads is in values.yaml, and the
//! Dockerfile agrees with the chart.

use std::collections::BTreeSet;
use std::path::Path;

use testkit::helm::chart_dir;
use testkit::rbac::chart_grants;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Every template (by its path under templates/) and its text.
fn templates() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, all: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("templates") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, all);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                all.push((name, read(&path)));
            }
        }
    }
    let root = chart_dir().join("templates");
    let mut all = Vec::new();
    walk(&root, &root, &mut all);
    all.sort();
    all
}

#[test]
fn rbac_templates_include_the_checked_rules_files_verbatim() {
    let rbac = read(&chart_dir().join("templates/controller/rbac.yaml"));
    for file in [
        "operator-rules.yaml",
        "leader-election-rules.yaml",
        "crd-rules.yaml",
        "namespace-selector-rules.yaml",
    ] {
        assert!(
            rbac.contains(&format!(".Files.Get \"files/{file}\"")),
            "{file}"
        );
        assert!(!chart_grants(file).is_empty());
    }
    let spark = read(&chart_dir().join("templates/spark/rbac.yaml"));
    assert!(spark.contains(".Files.Get \"files/spark-rules.yaml\""));
    // The webhook's, with the release's names put in place of the placeholders.
    let webhook = read(&chart_dir().join("templates/webhook/rbac.yaml"));
    assert!(webhook.contains(".Files.Get \"files/webhook-quota-rules.yaml\""));
    for (file, placeholder) in [
        ("webhook-rules.yaml", "WEBHOOK_NAME"),
        ("webhook-secret-rules.yaml", "WEBHOOK_SECRET"),
    ] {
        assert!(
            webhook.contains(&format!(
                ".Files.Get \"files/{file}\" | replace \"{placeholder}\""
            )),
            "{file}"
        );
        assert!(!chart_grants(file).is_empty());
    }
    // No template grants anything beside the files.
    for (name, text) in templates() {
        assert!(!text.contains("verbs:"), "{name} grants rules of its own");
    }
    // The driver's role: namespaced objects of its own namespace only.
    let spark_grants = chart_grants("spark-rules.yaml");
    assert!(spark_grants.iter().all(|(group, _, _)| group.is_empty()));
    assert!(spark_grants.contains(&("".into(), "pods".into(), "create".into())));
}

#[test]
fn the_charts_crds_are_the_generated_ones() {
    let generated = chart_dir().join("../../crds");
    for entry in std::fs::read_dir(&generated).expect("deploy/crds") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let copy = chart_dir().join("crds").join(name);
        assert_eq!(
            read(&path),
            read(&copy),
            "{copy:?} is stale: cp deploy/crds/*.yaml deploy/helm/spark-operator/crds/"
        );
    }
}

/// Every `--flag` that `template` passes is one `spark-operator COMMAND --help` lists.
fn flags_are_accepted(template: &str, command: &[&str]) {
    let deployment = read(&chart_dir().join("templates").join(template));
    let flags: BTreeSet<String> = deployment
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --"))
        .map(|f| f.split('=').next().unwrap().to_string())
        .collect();
    assert!(flags.len() > 10, "{flags:?}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_spark-operator"))
        .args(command)
        .arg("--help")
        .output()
        .expect("spark-operator runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in flags {
        assert!(
            help.contains(&format!("--{flag}")),
            "--{flag} of {template} is not a flag of {command:?}"
        );
    }
}

#[test]
fn every_flag_the_deployments_pass_is_accepted_by_their_commands() {
    flags_are_accepted("controller/deployment.yaml", &["controller", "start"]);
    flags_are_accepted("webhook/deployment.yaml", &["webhook", "start"]);
}

/// Whether `path` (like `controller.leaderElection.enable`) is in `values`.
fn has(values: &serde_yaml::Value, path: &str) -> bool {
    let mut node = values;
    for key in path.split('.') {
        match node.get(key) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

#[test]
fn every_value_a_template_reads_is_in_values_yaml() {
    let values: serde_yaml::Value =
        serde_yaml::from_str(&read(&chart_dir().join("values.yaml"))).expect("values.yaml");
    let pattern = regex::Regex::new(r"\$?\.Values\.([A-Za-z0-9_.]+)").unwrap();
    let mut read_paths = BTreeSet::new();
    for (_, text) in templates() {
        for capture in pattern.captures_iter(&text) {
            read_paths.insert(capture[1].trim_end_matches('.').to_string());
        }
    }
    assert!(read_paths.len() > 20);
    let missing: Vec<_> = read_paths.iter().filter(|p| !has(&values, p)).collect();
    assert!(missing.is_empty(), "values.yaml lacks {missing:?}");
}

#[test]
fn bad_runtime_flags_are_clear_errors() {
    for (args, expected) in [
        (
            vec!["--leader-election", "--leader-election-renew-deadline=20s"],
            "must be shorter than --leader-election-lease-duration",
        ),
        (
            vec!["--metrics-bind-address=eighty"],
            "--metrics-bind-address",
        ),
        (vec!["--metrics-labels=a.b,a/b"], "both become"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_spark-operator"))
            .args(["controller", "start"])
            .args(&args)
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .expect("spark-operator runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn repository_file(name: &str) -> String {
    read(&chart_dir().join("../../..").join(name))
}

/// The container image (Dockerfile, which cannot be built here: no container engine) agrees
/// with the chart that runs it and the workspace it is built from.
#[test]
fn the_dockerfile_builds_what_the_chart_runs() {
    let dockerfile = repository_file("Dockerfile");
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_string)
            .collect()
    };
    // The binary the chart's `controller start` args are given to.
    assert_eq!(
        instruction("ENTRYPOINT"),
        ["[\"/usr/local/bin/spark-operator\"]"]
    );
    let deployment = read(&chart_dir().join("templates/controller/deployment.yaml"));
    assert!(deployment.contains("args:\n            - controller\n            - start\n"));
    assert!(dockerfile.contains("cargo build --profile dist --locked --bin spark-operator"));
    // The user the chart's podSecurityContext runs as (runAsNonRoot needs a numeric USER).
    let values: serde_yaml::Value =
        serde_yaml::from_str(&read(&chart_dir().join("values.yaml"))).expect("values.yaml");
    let pod = &values["controller"]["podSecurityContext"];
    let user = format!(
        "{}:{}",
        pod["runAsUser"].as_u64().unwrap(),
        pod["runAsGroup"].as_u64().unwrap()
    );
    assert_eq!(instruction("USER"), [user]);
    // Two stages, the last one distroless; the builder is the workspace's rust-version.
    let stages = instruction("FROM");
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[1].starts_with("gcr.io/distroless/"), "{stages:?}");
    let workspace = repository_file("Cargo.toml");
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("the workspace's rust-version")
        .trim_matches('"');
    assert!(
        stages[0].starts_with(&format!("docker.io/library/rust:{rust_version}-")),
        "{stages:?} is not rust {rust_version}"
    );
    // The chart's default tag is its appVersion: the version the binaries are built at.
    let chart: serde_yaml::Value =
        serde_yaml::from_str(&read(&chart_dir().join("Chart.yaml"))).expect("Chart.yaml");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(values["image"]["tag"].as_str(), Some(""));
    let image = format!(
        "{}/{}:{}",
        values["image"]["registry"].as_str().unwrap(),
        values["image"]["repository"].as_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        dockerfile.contains(&format!("docker build -t {image} .")),
        "{image}"
    );
    // The build context keeps out what the build does not read.
    let ignored = repository_file(".dockerignore");
    for path in ["target", ".git"] {
        assert!(ignored.lines().any(|l| l == path), "{path}");
    }
}
