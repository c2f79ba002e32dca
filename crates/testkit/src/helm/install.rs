//! `helm install` of the chart where no container engine can run: the chart rendered by `helm
//! template`, applied with the real `kubectl` to a local cluster that
//! authenticates tokens and authorizes by RBAC; and the operator's processes started as the
//! chart's Deployments would run them, with tokens of the chart's ServiceAccounts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use kube::Client;
use localcluster::LocalCluster;
use serde_json::Value;

use super::chart_dir;
use crate::kubectl::{Kubectl, path_arg};

pub const RELEASE: &str = "spark-operator";
pub const RELEASE_NAMESPACE: &str = "spark-operator";

/// The rendered documents, parsed.
pub fn documents(manifest: &str) -> Vec<Value> {
    manifest
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let yaml: serde_yaml::Value =
                serde_yaml::from_str(d).unwrap_or_else(|e| panic!("rendered YAML: {e}\n{d}"));
            serde_json::to_value(yaml).unwrap()
        })
        .collect()
}

/// The documents of `kind` in `namespace` (`Value::Null` for cluster-scoped ones).
pub fn find<'a>(documents: &'a [Value], kind: &str, namespace: &str) -> Vec<&'a Value> {
    documents
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["namespace"] == namespace)
        .collect()
}

/// The chart installed on a fresh local cluster.
pub struct Installed {
    pub cluster: LocalCluster,
    pub admin: Client,
    pub dir: tempfile::TempDir,
    /// kubectl as the cluster's administrator, its kubeconfig in `dir`.
    pub kubectl: Kubectl,
    pub manifest: String,
    pub manifest_file: PathBuf,
    pub documents: Vec<Value>,
    /// What `kubectl apply` of the manifest printed.
    pub applied: String,
}

/// A fresh local cluster that authorizes by RBAC, and kubectl as its administrator.
async fn rbac_cluster() -> (LocalCluster, Client, tempfile::TempDir, Kubectl) {
    let (cluster, admin) = crate::cluster::start_with_rbac().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_config = dir.path().join("admin.kubeconfig");
    cluster.write_kubeconfig(&admin_config).expect("kubeconfig");
    let kubectl = Kubectl::new(admin_config);
    (cluster, admin, dir, kubectl)
}

/// `kubectl apply -k DIR` on a fresh cluster (server-side: the CRDs are too large for the
/// annotation client-side apply writes), the objects as `kubectl kustomize DIR` builds them.
pub async fn install_kustomization(kustomization: &Path) -> Installed {
    let (cluster, admin, dir, kubectl) = rbac_cluster().await;
    let manifest = kubectl.ok(&["kustomize", path_arg(kustomization)]).await;
    let manifest_file = kubectl.file("manifest.yaml", &manifest);
    let applied = kubectl
        .ok(&["apply", "--server-side", "-k", path_arg(kustomization)])
        .await;
    let documents = documents(&manifest);
    Installed {
        cluster,
        admin,
        dir,
        kubectl,
        manifest,
        manifest_file,
        documents,
        applied,
    }
}

/// `helm install --create-namespace` with `values`: the namespace, the CRDs of crds/ (created,
/// not templated), then the rendered templates.
pub async fn install(values: &str) -> Installed {
    let (cluster, admin, dir, kubectl) = rbac_cluster().await;
    let rendered = super::render(
        &chart_dir(),
        &super::Release {
            name: RELEASE,
            namespace: RELEASE_NAMESPACE,
            values,
        },
    )
    .unwrap_or_else(|e| panic!("the chart renders: {e}"));
    let manifest = super::manifest(&rendered);
    let manifest_file = kubectl.file("manifest.yaml", &manifest);
    kubectl
        .ok(&["create", "namespace", RELEASE_NAMESPACE])
        .await;
    // Server-side, because a CRD this large does not fit the annotation client-side apply writes.
    let crds = chart_dir().join("crds");
    kubectl
        .ok(&["apply", "--server-side", "-f", path_arg(&crds)])
        .await;
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/sparkapplications.sparkoperator.k8s.io",
            "--timeout=30s",
        ])
        .await;
    let applied = kubectl.ok(&["apply", "-f", path_arg(&manifest_file)]).await;
    let documents = documents(&manifest);
    Installed {
        cluster,
        admin,
        dir,
        kubectl,
        manifest,
        manifest_file,
        documents,
        applied,
    }
}

impl Installed {
    /// A kubeconfig for `server` (default: the cluster's HTTPS URL) that authenticates with a
    /// token of `account` in the release namespace, from the TokenRequest API, as the kubelet
    /// would mount it.
    pub async fn kubeconfig_of(&self, account: &str, server: Option<&str>) -> PathBuf {
        let token = self
            .kubectl
            .ok(&["create", "token", account, "-n", RELEASE_NAMESPACE])
            .await;
        let url = self.cluster.url();
        let mut cluster = serde_json::json!({"server": server.unwrap_or(&url)});
        if server.is_none() {
            let ca =
                base64::engine::general_purpose::STANDARD.encode(self.cluster.ca_pem().unwrap());
            cluster["certificate-authority-data"] = ca.into();
        }
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": account, "user": {"token": token.trim()}}],
            "contexts": [{"name": account, "context": {"cluster": "local", "user": account, "namespace": RELEASE_NAMESPACE}}],
            "current-context": account,
        });
        let path = self.dir.path().join(format!("{account}.kubeconfig"));
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// The container args of the Deployment `name`, each `--FLAG=` of `replace` given its value.
    pub fn container_args(&self, name: &str, replace: &[(&str, String)]) -> Vec<String> {
        self.container_args_in(RELEASE_NAMESPACE, name, replace)
    }

    /// [`Installed::container_args`] of a Deployment in `namespace`.
    pub fn container_args_in(
        &self,
        namespace: &str,
        name: &str,
        replace: &[(&str, String)],
    ) -> Vec<String> {
        let deployment = find(&self.documents, "Deployment", namespace)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name} in\n{}", self.manifest));
        deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let arg = a.as_str().unwrap();
                let flag = arg.split_once('=').map(|(flag, _)| flag);
                match replace.iter().find(|(f, _)| Some(*f) == flag) {
                    Some((flag, value)) => format!("{flag}={value}"),
                    None => arg.to_string(),
                }
            })
            .collect()
    }

    pub fn deployment(&self, name: &str) -> &Value {
        find(&self.documents, "Deployment", RELEASE_NAMESPACE)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name} in\n{}", self.manifest))
    }
}

/// One replica of a Deployment: the operator's binary (`CARGO_BIN_EXE_spark-operator` of the
/// operator's tests) as a process, killed if the test ends without stopping it.
pub struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn start(
        binary: &str,
        args: &[String],
        kubeconfig: &Path,
        pod_name: &str,
        log: PathBuf,
    ) -> Process {
        let child = Command::new(binary)
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", pod_name)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the operator starts");
        Process { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as the kubelet stops a container; the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
