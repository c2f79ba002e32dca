//! The service account token a kubelet mounts into a pod's containers (the projected
//! `kube-api-access-*` volume: `token`, `ca.crt`, `namespace` at
//! `/var/run/secrets/kubernetes.io/serviceaccount`), for programs run for mapped images.
//!
//! The token is a real one: the runtime asks the TokenRequest API for it, bound to the pod, as the
//! kubelet does, so the cluster authenticates the program as the pod's service account and RBAC
//! applies to it as granted. It is written to a directory of the pod's that stands for the mount
//! path.
//!
//! In-cluster clients (kube-rs's `Config::incluster`, client-go's `rest.InClusterConfig`) read
//! those fixed paths, which a process on this machine cannot see, and reach the API at
//! `KUBERNETES_SERVICE_HOST`, the `kubernetes` Service's cluster IP, which does not route here.
//! So the runtime also writes a kubeconfig naming the same files and the cluster's own URL, and
//! sets `KUBECONFIG` to it: clients that load their configuration the standard way (kube-rs's
//! `Config::infer`, controller-runtime's `GetConfig`, kubectl) read it before falling back to
//! in-cluster configuration, and so use the pod's identity.

use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

/// Where the kubelet mounts the token, CA and namespace.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The lifetime the kubelet asks for.
const EXPIRATION_SECONDS: i64 = 3607;

/// How pods reach the API server: its URL from this machine, and the CA that signed its
/// certificate (none for plain HTTP).
#[derive(Debug, Clone)]
pub struct ApiAccess {
    pub url: String,
    pub ca_pem: Option<String>,
}

/// Whether the token is mounted into `container`: unless the pod, else its service account
/// `account`, says `automountServiceAccountToken: false`, or the container mounts something of
/// its own there, as the ServiceAccount admission plugin decides.
pub fn automounted(pod: &Value, container: &Value, account: &Value) -> bool {
    let own_mount = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(MOUNT_PATH));
    let wanted = pod["spec"]["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    wanted && !own_mount
}

/// A kubeconfig for the pod's identity: the cluster's URL and CA, the token file, and the pod's
/// namespace as the default one, as in-cluster configuration would have them.
pub fn kubeconfig(access: &ApiAccess, namespace: &str, dir: &Path) -> Value {
    let mut cluster = json!({"server": access.url});
    if access.ca_pem.is_some() {
        cluster["certificate-authority"] = json!(dir.join("ca.crt"));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "in-cluster", "cluster": cluster}],
        "users": [{"name": "service-account", "user": {"tokenFile": dir.join("token")}}],
        "contexts": [{"name": "in-cluster", "context": {
            "cluster": "in-cluster", "user": "service-account", "namespace": namespace}}],
        "current-context": "in-cluster",
    })
}

/// Mounts the service account token of `pod` for `container` under `pod_dir` when it is
/// automounted: the directory standing for [`MOUNT_PATH`] and the kubeconfig naming it.
pub async fn mount(
    client: &Client,
    pod: &Value,
    container: &Value,
    access: &ApiAccess,
    pod_dir: &Path,
) -> Result<Option<(PathBuf, PathBuf)>, String> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["spec"]["serviceAccountName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let account = accounts
        .get(name)
        .await
        .map_err(|e| format!("serviceaccount \"{name}\": {e}"))?;
    let account = serde_json::to_value(&account).map_err(|e| e.to_string())?;
    if !automounted(pod, container, &account) {
        return Ok(None);
    }
    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [],
            "expirationSeconds": EXPIRATION_SECONDS,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
        },
    }))
    .map_err(|e| e.to_string())?;
    let issued = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("requesting a token of serviceaccount \"{name}\": {e}"))?;
    let token = issued.status.and_then(|s| s.token).unwrap_or_default();
    let dir = pod_dir.join("kube-api-access");
    let write = |file: &str, content: &str| {
        let path = dir.join(file);
        std::fs::write(&path, content).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    write("token", &token)?;
    write("namespace", namespace)?;
    if let Some(ca) = &access.ca_pem {
        write("ca.crt", ca)?;
    }
    let config = pod_dir.join("kubeconfig");
    let text = kubeconfig(access, namespace, &dir).to_string();
    std::fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
    Ok(Some((dir, config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_then_its_account_decide_the_automount() {
        let container = json!({"name": "c"});
        let pod = |automount: Value| json!({"spec": {"automountServiceAccountToken": automount}});
        let account = |automount: Value| json!({"automountServiceAccountToken": automount});
        assert!(automounted(
            &pod(Value::Null),
            &container,
            &account(Value::Null)
        ));
        assert!(!automounted(
            &pod(Value::Null),
            &container,
            &account(json!(false))
        ));
        assert!(automounted(
            &pod(json!(true)),
            &container,
            &account(json!(false))
        ));
        assert!(!automounted(
            &pod(json!(false)),
            &container,
            &account(json!(true))
        ));
        let own = json!({"volumeMounts": [{"name": "t", "mountPath": format!("{MOUNT_PATH}/")}]});
        assert!(!automounted(&pod(Value::Null), &own, &account(Value::Null)));
    }

    #[test]
    fn the_kubeconfig_names_the_mounted_files() {
        let access = ApiAccess {
            url: "https://127.0.0.1:6443".into(),
            ca_pem: Some("PEM".into()),
        };
        let config = kubeconfig(&access, "spark", Path::new("/pods/p/kube-api-access"));
        assert_eq!(
            config["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            config["clusters"][0]["cluster"]["certificate-authority"],
            "/pods/p/kube-api-access/ca.crt"
        );
        assert_eq!(
            config["users"][0]["user"]["tokenFile"],
            "/pods/p/kube-api-access/token"
        );
        assert_eq!(config["contexts"][0]["context"]["namespace"], "spark");
        let plain = ApiAccess {
            url: "http://127.0.0.1:8080".into(),
            ca_pem: None,
        };
        let config = kubeconfig(&plain, "spark", Path::new("/d"));
        assert!(config["clusters"][0]["cluster"]["certificate-authority"].is_null());
    }
}
