//! Opt-in RBAC over HTTPS with kube-rs: tokens from the TokenRequest subresource identify
//! service accounts, bindings decide, refusals are 401 or 403 Status objects, and the admin
//! client keeps every right.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use localcluster::LocalCluster;
use serde_json::json;

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test object")
}

/// A client of `cluster` that sends `token` (or none).
fn client_with(cluster: &LocalCluster, token: Option<&str>) -> Client {
    let mut config = kube::Config::new(cluster.url().parse().unwrap());
    config.default_namespace = "default".into();
    config.root_cert = Some(vec![pem_to_der(cluster.ca_pem().expect("TLS is on"))]);
    if let Some(token) = token {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        config.headers.push((http::header::AUTHORIZATION, value));
    }
    Client::try_from(config).expect("client")
}

/// The DER bytes of a one-certificate PEM.
fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

fn code(error: kube::Error) -> (u16, String, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone(), status.message.clone()),
        other => panic!("not an API error: {other}"),
    }
}

/// The service account `account` of `namespace`, bound (by a RoleBinding of its name) to the
/// Role `role` there.
async fn account_bound_to(admin: &Client, namespace: &str, account: &str, role: &str) {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    accounts
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": account}})),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), namespace);
    bindings
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": account},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            })),
        )
        .await
        .unwrap();
}

async fn token_for(admin: &Client, namespace: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let request: TokenRequest = object(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 600},
    }));
    let issued: TokenRequest = accounts
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .expect("token issued");
    issued.status.and_then(|s| s.token).expect("a token")
}

#[tokio::test]
async fn service_account_tokens_are_authorized_by_their_bindings() {
    let (cluster, admin) = testkit::cluster::start_with_rbac().await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "jobs"}})),
        )
        .await
        .unwrap();
    let roles: Api<Role> = Api::namespaced(admin.clone(), "jobs");
    roles
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "read-config"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            })),
        )
        .await
        .unwrap();
    account_bound_to(&admin, "jobs", "reader", "read-config").await;

    let token = token_for(&admin, "jobs", "reader").await;
    let reader = client_with(&cluster, Some(&token));
    let in_jobs: Api<ConfigMap> = Api::namespaced(reader.clone(), "jobs");
    in_jobs
        .list(&ListParams::default())
        .await
        .expect("granted list");
    let (status, reason, message) = code(
        in_jobs
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "c"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((status, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "configmaps is forbidden: User \"system:serviceaccount:jobs:reader\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"jobs\""
    );
    let elsewhere: Api<ConfigMap> = Api::namespaced(reader.clone(), "default");
    assert_eq!(
        code(elsewhere.list(&ListParams::default()).await.unwrap_err()).0,
        403
    );
    // Discovery is open to any authenticated user.
    reader.apiserver_version().await.expect("version");
    kube::discovery::Discovery::new(reader.clone())
        .run()
        .await
        .expect("discovery");

    // No token: anonymous, refused; an unknown token: 401.
    let anonymous: Api<ConfigMap> = Api::namespaced(client_with(&cluster, None), "jobs");
    assert_eq!(
        code(anonymous.list(&ListParams::default()).await.unwrap_err()).0,
        403
    );
    let stranger: Api<ConfigMap> = Api::namespaced(client_with(&cluster, Some("made-up")), "jobs");
    let (status, reason, _) = code(stranger.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((status, reason.as_str()), (401, "Unauthorized"));

    // The admin keeps every right; a new binding counts at once; a deleted service account's
    // token stops working.
    let cluster_roles: Api<ClusterRole> = Api::all(admin.clone());
    cluster_roles
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "list-config"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            })),
        )
        .await
        .unwrap();
    let default_bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), "default");
    default_bindings
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "reader-lists"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "jobs"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "list-config"},
            })),
        )
        .await
        .unwrap();
    elsewhere
        .list(&ListParams::default())
        .await
        .expect("granted by the new binding");
    let admin_configs: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    admin_configs
        .list(&ListParams::default())
        .await
        .expect("admin lists");
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "jobs");
    accounts
        .delete("reader", &DeleteParams::default())
        .await
        .unwrap();
    let (status, _, _) = code(in_jobs.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(status, 401);
    let missing = accounts
        .create_subresource::<_, TokenRequest>(
            "token",
            "reader",
            &PostParams::default(),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(missing).0, 404);
}

/// A WebSocket `exec` is a GET: authorized as `get` on `pods/exec`, and, as since Kubernetes 1.35,
/// as `create` too.
#[tokio::test]
async fn exec_needs_get_and_create_on_pods_exec() {
    let (cluster, admin) = testkit::cluster::start_with_rbac().await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), "default");
    pods.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": "target"},
                       "spec": {"containers": [{"name": "main", "image": "busybox"}]}})),
    )
    .await
    .unwrap();
    account_bound_to(&admin, "default", "shell", "exec").await;
    let token = token_for(&admin, "default", "shell").await;
    let shell: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client_with(&cluster, Some(&token)), "default");
    let roles: Api<Role> = Api::namespaced(admin.clone(), "default");
    let mut tried = Vec::new();
    for verbs in [json!(["get"]), json!(["create"]), json!(["get", "create"])] {
        let _ = roles.delete("exec", &DeleteParams::default()).await;
        roles
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "exec"},
                    "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs}],
                })),
            )
            .await
            .unwrap();
        let refused = shell
            .exec("target", ["true"], &kube::api::AttachParams::default())
            .await
            .err()
            .expect("the pod has no node to run on");
        tried.push(code(refused));
    }
    assert_eq!(tried[0].0, 403);
    assert!(
        tried[0].2.contains("cannot create resource \"pods/exec\""),
        "{:?}",
        tried[0]
    );
    assert_eq!(tried[1].0, 403);
    assert!(
        tried[1].2.contains("cannot get resource \"pods/exec\""),
        "{:?}",
        tried[1]
    );
    assert_eq!(
        (tried[2].0, tried[2].2.as_str()),
        (400, "pod target does not have a host assigned")
    );
}
