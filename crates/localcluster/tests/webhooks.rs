//! Admission webhooks: the local cluster calls the webhooks of stored Mutating/
//! ValidatingWebhookConfigurations over HTTPS (a real rustls server in this test, trusted through
//! `caBundle`), applies their patches in order, words denials and failures as Kubernetes does, and
//! honours failurePolicy, selectors, timeouts, dry run and Service references.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::post;
use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use serde_json::{Value, json};
use testkit::{Kubectl, cluster};
use tokio::sync::watch;
use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::PrivateKeyDer};

/// A webhook server over HTTPS on a free loopback port; what it does depends on the path.
struct Hooks {
    port: u16,
    ca_pem: String,
    seen: Arc<Mutex<Vec<Value>>>,
    _stop: watch::Sender<bool>,
}

fn allow(uid: &Value, extra: Value) -> Value {
    let mut response = json!({"uid": uid, "allowed": true});
    if let (Some(map), Some(extra)) = (response.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

fn patch(operations: Value) -> Value {
    json!({"patchType": "JSONPatch",
        "patch": base64::engine::general_purpose::STANDARD.encode(operations.to_string())})
}

async fn answer(State(seen): State<Arc<Mutex<Vec<Value>>>>, uri: Uri, body: Bytes) -> String {
    let review: Value = serde_json::from_slice(&body).unwrap_or_default();
    let request = review["request"].clone();
    seen.lock().unwrap().push(request.clone());
    let uid = &request["uid"];
    let name = request["name"].as_str().unwrap_or_default();
    let labels = &request["object"]["metadata"]["labels"];
    let response = match uri.path() {
        "/deny-bad" if name.starts_with("bad-") => json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": false,
                "status": {"code": 403, "reason": "Forbidden", "message": format!("data.size: {name} is too big: use less")}}}),
        "/first" => allow(
            uid,
            patch(json!([{"op": "add", "path": "/metadata/labels/first", "value": "1"}])),
        ),
        "/second" => {
            let seen_first = labels["first"].as_str().unwrap_or("missing");
            allow(
                uid,
                patch(
                    json!([{"op": "add", "path": "/metadata/labels/second", "value": format!("after-{seen_first}")}]),
                ),
            )
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            allow(uid, json!({}))
        }
        _ => allow(uid, json!({})),
    };
    response.to_string()
}

impl Hooks {
    async fn start() -> Hooks {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params =
            CertificateParams::new(vec!["hooks.default.svc".to_string(), "localhost".into()])
                .unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/{*path}", post(answer))
            .with_state(seen.clone());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(localcluster::server::serve(
            listener,
            Some(Arc::new(config)),
            router,
            stopped,
        ));
        Hooks {
            port,
            ca_pem: ca.pem(),
            seen,
            _stop: stop,
        }
    }

    fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

/// A webhook entry for ConfigMaps.
fn hook(name: &str, client_config: Value, extra: Value) -> Value {
    let mut hook = json!({"name": name, "clientConfig": client_config,
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
        "sideEffects": "None", "admissionReviewVersions": ["v1"],
        "objectSelector": {"matchLabels": {"test": "webhooks"}}});
    if let (Some(map), Some(extra)) = (hook.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    hook
}

async fn configure(
    cluster: &localcluster::LocalCluster,
    kind: &str,
    name: &str,
    hooks: Vec<Value>,
) {
    let api = cluster.cluster();
    let plural = format!("{}s", kind.to_lowercase());
    let resource = api
        .resource("admissionregistration.k8s.io/v1", &plural)
        .unwrap();
    let object = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": {"name": name}, "webhooks": hooks});
    let _ = api.delete(&resource, "", name, &Default::default()).await;
    api.create(&resource, "", object, &Default::default())
        .await
        .expect("webhook configuration stored");
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"test": "webhooks"}},
        "data": {"size": "1"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn validating_webhook_denies_through_kubectl_in_kubernetes_words() {
    let cluster = cluster::start().await;
    let hooks = Hooks::start().await;
    let client_config = json!({"url": hooks.url("/deny-bad"), "caBundle": hooks.ca_bundle()});
    configure(
        &cluster,
        "ValidatingWebhookConfiguration",
        "deny",
        vec![hook("deny.example.com", client_config, json!({}))],
    )
    .await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad-one\n  labels: {test: webhooks}\ndata: {size: \"9\"}\n";
    let (ok, output) = kubectl.apply(bad).await;
    assert!(!ok, "{output}");
    assert!(
        output.contains(
            "admission webhook \"deny.example.com\" denied the request: data.size: bad-one is too big: use less"
        ),
        "{output}"
    );
    let (ok, output) = kubectl.apply(&bad.replace("bad-one", "good-one")).await;
    assert!(ok, "{output}");
    // The review carried what Kubernetes sends.
    let seen = hooks.seen.lock().unwrap().clone();
    let request = seen.last().expect("a review arrived");
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(request["namespace"], "default");
    assert_eq!(
        request["resource"],
        json!({"group": "", "version": "v1", "resource": "configmaps"})
    );
    assert_eq!(request["object"]["data"]["size"], "9");
    // Objects the selector leaves out are not sent.
    let unlabelled = bad.replace("  labels: {test: webhooks}\n", "");
    let (ok, output) = kubectl.apply(&unlabelled).await;
    assert!(
        ok,
        "an unselected object is not sent to the webhook: {output}"
    );
}

#[tokio::test]
async fn mutating_webhooks_patch_in_order_and_selectors_apply() {
    let cluster = cluster::start().await;
    let hooks = Hooks::start().await;
    let config = |path: &str| json!({"url": hooks.url(path), "caBundle": hooks.ca_bundle()});
    configure(
        &cluster,
        "MutatingWebhookConfiguration",
        "a-first",
        vec![hook("first.example.com", config("/first"), json!({}))],
    )
    .await;
    configure(&cluster, "MutatingWebhookConfiguration", "b-second", vec![hook(
        "second.example.com",
        config("/second"),
        json!({"namespaceSelector": {"matchExpressions": [{"key": "hooks", "operator": "NotIn", "values": ["off"]}]}}),
    )]).await;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("m1"))
        .await
        .expect("created");
    let labels = created.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("first").map(String::as_str), Some("1"));
    assert_eq!(labels.get("second").map(String::as_str), Some("after-1"));
    // The stored object is the patched one.
    let stored = api.get("m1").await.unwrap();
    assert_eq!(
        stored
            .metadata
            .labels
            .unwrap_or_default()
            .get("second")
            .map(String::as_str),
        Some("after-1")
    );
    // A namespace the second webhook's namespaceSelector leaves out.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(cluster.client().unwrap());
    let ns: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(json!({"metadata": {
        "name": "quiet", "labels": {"hooks": "off"}}}))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let quiet: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), "quiet");
    let created = quiet
        .create(&PostParams::default(), &config_map("m2"))
        .await
        .unwrap();
    let labels = created.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("first").map(String::as_str), Some("1"));
    assert_eq!(labels.get("second"), None);
}

#[tokio::test]
async fn failure_policy_fail_and_ignore_when_the_webhook_is_down_or_slow() {
    let cluster = cluster::start().await;
    let hooks = Hooks::start().await;
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down =
        json!({"url": format!("https://127.0.0.1:{closed}/v"), "caBundle": hooks.ca_bundle()});
    configure(
        &cluster,
        "ValidatingWebhookConfiguration",
        "down",
        vec![hook(
            "down.example.com",
            down.clone(),
            json!({"failurePolicy": "Fail"}),
        )],
    )
    .await;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), "default");
    let error = api
        .create(&PostParams::default(), &config_map("f1"))
        .await
        .expect_err("Fail rejects when the webhook is down");
    let kube::Error::Api(status) = error else {
        panic!("{error:?}")
    };
    assert_eq!(status.code, 500);
    assert!(
        status.message.starts_with(&format!(
            "Internal error occurred: failed calling webhook \"down.example.com\": failed to call webhook: Post \"https://127.0.0.1:{closed}/v?timeout=10s\": dial tcp"
        )),
        "{}",
        status.message
    );
    configure(
        &cluster,
        "ValidatingWebhookConfiguration",
        "down",
        vec![hook(
            "down.example.com",
            down,
            json!({"failurePolicy": "Ignore"}),
        )],
    )
    .await;
    api.create(&PostParams::default(), &config_map("f2"))
        .await
        .expect("Ignore lets the request through");
    // A webhook slower than its timeout.
    let slow = json!({"url": hooks.url("/slow"), "caBundle": hooks.ca_bundle()});
    configure(
        &cluster,
        "ValidatingWebhookConfiguration",
        "down",
        vec![hook("slow.example.com", slow, json!({"timeoutSeconds": 1}))],
    )
    .await;
    let started = std::time::Instant::now();
    let error = api
        .create(&PostParams::default(), &config_map("f3"))
        .await
        .expect_err("times out");
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(
        error.to_string().contains("context deadline exceeded"),
        "{error}"
    );
    // A CA that does not sign the webhook's certificate is a failed call too.
    let untrusted = json!({"url": hooks.url("/v"), "caBundle": base64::engine::general_purpose::STANDARD.encode(
        Hooks::start().await.ca_pem)});
    configure(
        &cluster,
        "ValidatingWebhookConfiguration",
        "down",
        vec![hook("untrusted.example.com", untrusted, json!({}))],
    )
    .await;
    let error = api
        .create(&PostParams::default(), &config_map("f4"))
        .await
        .expect_err("untrusted");
    assert!(
        error.to_string().contains("tls: invalid peer certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn services_resolve_through_loopback_endpoints_and_deletes_and_dry_runs_are_reviewed() {
    let cluster = cluster::start().await;
    let hooks = Hooks::start().await;
    let client = cluster.client().unwrap();
    let api = cluster.cluster();
    let services = api.resource("v1", "services").unwrap();
    api.create(
        &services,
        "default",
        json!({"metadata": {"name": "hooks"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": "webhook"}]}}),
        &Default::default(),
    )
    .await
    .unwrap();
    let endpoints = api.resource("v1", "endpoints").unwrap();
    api.create(
        &endpoints,
        "default",
        json!({"metadata": {"name": "hooks"}, "subsets": [{
        "addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": hooks.port}]}]}),
        &Default::default(),
    )
    .await
    .unwrap();
    let by_service = json!({"service": {"namespace": "default", "name": "hooks", "path": "/deny-bad"},
        "caBundle": hooks.ca_bundle()});
    configure(&cluster, "ValidatingWebhookConfiguration", "svc", vec![hook(
        "svc.example.com",
        by_service,
        json!({"sideEffects": "Some", "rules": [{"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]}),
    )]).await;
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let error = maps
        .create(&PostParams::default(), &config_map("bad-svc"))
        .await
        .expect_err("denied");
    assert!(
        error.to_string().contains(
            "admission webhook \"svc.example.com\" denied the request: data.size: bad-svc"
        ),
        "{error}"
    );
    maps.create(&PostParams::default(), &config_map("ok-svc"))
        .await
        .expect("allowed");
    // sideEffects Some: a dry run is refused rather than sent.
    let error = maps
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &config_map("dry"),
        )
        .await
        .expect_err("dry run refused");
    assert!(
        error
            .to_string()
            .contains("admission webhook \"svc.example.com\" does not support dry run"),
        "{error}"
    );
    maps.delete("ok-svc", &DeleteParams::default())
        .await
        .expect("deleted");
    let seen = hooks.seen.lock().unwrap().clone();
    let delete = seen.last().expect("reviewed");
    assert_eq!(delete["operation"], "DELETE");
    assert_eq!(delete["oldObject"]["metadata"]["name"], "ok-svc");
    assert!(delete["object"].is_null());
}
