//! What the API server answers, byte for byte where it matters: a table of requests sent over
//! HTTPS with kube-rs's client, each with the code, member order and members Kubernetes gives.
//! The facts come from Kubernetes' generic store and handlers: a DELETE that removes an object
//! answers a `Status` naming it (`details.kind` is the resource) except for the resources that
//! return the object (pods, services, namespaces, service accounts, nodes, volumes and claims);
//! a DELETE that leaves the object waiting (finalizers, a grace period, a namespace) answers 200
//! with it, 202 only for the deprecated `orphanDependents: false`; `metadata.generation` exists
//! only on kinds whose strategy tracks it (Deployments, custom resources, ...) and is bumped when
//! deletion starts; bodies are written in the member order of Kubernetes' Go types (custom
//! resources, held as maps, sorted) and end with a newline. Also checked with the real kubectl.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;

/// A JSON document that keeps the order of its members.
#[derive(Debug)]
enum Ordered {
    Map(Vec<(String, Ordered)>),
    List(Vec<Ordered>),
    Scalar,
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Ordered>()? {
                    members.push((key, value));
                }
                Ok(Ordered::Map(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Ordered>()? {
                    items.push(item);
                }
                Ok(Ordered::List(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
        }
        deserializer.deserialize_any(OrderedVisitor)
    }
}

impl Ordered {
    /// The member names of the object at `path` (member names, then `0`, `1`, ... in lists).
    fn keys_at(&self, path: &[&str]) -> Vec<String> {
        let mut here = self;
        for step in path {
            here = match here {
                Ordered::Map(members) => {
                    &members
                        .iter()
                        .find(|(name, _)| name == step)
                        .unwrap_or_else(|| panic!("no member {step}"))
                        .1
                }
                Ordered::List(items) => &items[step.parse::<usize>().unwrap()],
                Ordered::Scalar => panic!("{step} of a scalar"),
            };
        }
        match here {
            Ordered::Map(members) => members.iter().map(|(name, _)| name.clone()).collect(),
            _ => panic!("not an object at {path:?}"),
        }
    }
}

/// One request of the table and what Kubernetes answers to it.
struct Row {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    code: u16,
    /// Member order: the path of an object, and its members as written.
    order: &'static [(&'static [&'static str], &'static [&'static str])],
    /// Members that must be as given (`None`: absent), by JSON pointer.
    members: Vec<(&'static str, Option<Value>)>,
}

fn row(what: &'static str, method: &'static str, path: &'static str, code: u16) -> Row {
    Row {
        what,
        method,
        path,
        body: None,
        code,
        order: &[],
        members: Vec::new(),
    }
}

impl Row {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn order(
        mut self,
        order: &'static [(&'static [&'static str], &'static [&'static str])],
    ) -> Self {
        self.order = order;
        self
    }
    fn has(mut self, pointer: &'static str, value: Value) -> Self {
        self.members.push((pointer, Some(value)));
        self
    }
    fn lacks(mut self, pointer: &'static str) -> Self {
        self.members.push((pointer, None));
        self
    }
}

async fn send(client: &kube::Client, row: &Row) -> (u16, Vec<u8>) {
    let body = row
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let request = http::Request::builder()
        .method(row.method)
        .uri(row.path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .unwrap();
    let response = client.send(request.map(Into::into)).await.unwrap();
    let code = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (code, bytes.to_vec())
}

const STATUS: &[&str] = &["kind", "apiVersion", "metadata", "status", "details"];
const OBJECT_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
];

fn widget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

fn rows() -> Vec<Row> {
    const CM: &str = "/api/v1/namespaces/default/configmaps";
    const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";
    vec![
        row("a ConfigMap is created without a generation", "POST", CM, 201)
            .body(json!({"metadata": {"name": "plain"}, "data": {"b": "2", "a": "1"}, "apiVersion": "v1", "kind": "ConfigMap"}))
            .order(&[(&[], &["kind", "apiVersion", "metadata", "data"]), (&["metadata"], OBJECT_META), (&["data"], &["a", "b"])])
            .lacks("/metadata/generation"),
        row("a ConfigMap read back", "GET", "/api/v1/namespaces/default/configmaps/plain", 200)
            .order(&[(&[], &["kind", "apiVersion", "metadata", "data"])])
            .lacks("/metadata/generation"),
        row("a list", "GET", CM, 200)
            .order(&[(&[], &["kind", "apiVersion", "metadata", "items"])]),
        row("a missing object is a Failure Status", "GET", "/api/v1/namespaces/default/configmaps/none", 404)
            .order(&[(&[], &["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]),
                (&["details"], &["name", "kind"])])
            .has("/reason", json!("NotFound")),
        row("a ConfigMap deleted at once answers a Status", "DELETE", "/api/v1/namespaces/default/configmaps/plain", 200)
            .order(&[(&[], STATUS), (&["details"], &["name", "kind", "uid"])])
            .has("/status", json!("Success"))
            .has("/details/name", json!("plain"))
            .has("/details/kind", json!("configmaps"))
            .lacks("/details/group")
            .lacks("/code"),
        row("a held ConfigMap is created", "POST", CM, 201)
            .body(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})),
        row("a held ConfigMap's delete answers it, 200, still without a generation", "DELETE", "/api/v1/namespaces/default/configmaps/held", 200)
            .order(&[(&[], &["kind", "apiVersion", "metadata"])])
            .has("/metadata/finalizers", json!(["example.com/hold"]))
            .lacks("/metadata/generation"),
        row("orphanDependents: false on a waiting object answers 202", "DELETE", "/api/v1/namespaces/default/configmaps/held", 202)
            .body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": false})),
        row("a Deployment starts at generation 1", "POST", DEPLOY, 201)
            .body(deployment())
            .order(&[(&[], &["kind", "apiVersion", "metadata", "spec", "status"]), (&["metadata"], &["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"])])
            .has("/metadata/generation", json!(1)),
        row("a foreground delete answers the object, 200, generation bumped", "DELETE", "/apis/apps/v1/namespaces/default/deployments/web", 200)
            .body(json!({"propagationPolicy": "Foreground"}))
            .has("/metadata/finalizers", json!(["foregroundDeletion"]))
            .has("/metadata/generation", json!(2)),
        row("a second Deployment", "POST", DEPLOY, 201)
            .body({ let mut d = deployment(); d["metadata"]["name"] = json!("api"); d }),
        row("a Deployment deleted at once answers a Status with its group", "DELETE", "/apis/apps/v1/namespaces/default/deployments/api", 200)
            .order(&[(&[], STATUS), (&["details"], &["name", "group", "kind", "uid"])])
            .has("/details/group", json!("apps"))
            .has("/details/kind", json!("deployments")),
        row("a pod off any node", "POST", "/api/v1/namespaces/default/pods", 201)
            .body(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
            .order(&[(&[], &["kind", "apiVersion", "metadata", "spec", "status"])])
            .lacks("/metadata/generation"),
        row("a pod deleted at once answers the pod", "DELETE", "/api/v1/namespaces/default/pods/p", 200)
            .has("/kind", json!("Pod"))
            .has("/metadata/name", json!("p")),
        row("a Service", "POST", "/api/v1/namespaces/default/services", 201)
            .body(json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}))
            .lacks("/metadata/generation"),
        row("a Service deleted answers the Service", "DELETE", "/api/v1/namespaces/default/services/s", 200)
            .has("/kind", json!("Service")),
        row("a namespace", "POST", "/api/v1/namespaces", 201)
            .body(json!({"metadata": {"name": "team"}}))
            .lacks("/metadata/generation"),
        row("a namespace's delete answers it Terminating, 200", "DELETE", "/api/v1/namespaces/team", 200)
            .has("/kind", json!("Namespace"))
            .has("/status/phase", json!("Terminating"))
            .lacks("/metadata/generation"),
        row("a CRD", "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", 201)
            .body(widget_crd())
            .has("/metadata/generation", json!(1)),
    ]
}

fn custom_rows() -> Vec<Row> {
    const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";
    vec![
        row("a custom resource is written sorted, with a generation", "POST", WIDGETS, 201)
            .body(json!({"kind": "Widget", "apiVersion": "example.com/v1", "spec": {"size": 1}, "metadata": {"name": "w"}}))
            .order(&[(&[], &["apiVersion", "kind", "metadata", "spec"]),
                (&["metadata"], &["creationTimestamp", "generation", "managedFields", "name", "namespace", "resourceVersion", "uid"])])
            .has("/metadata/generation", json!(1)),
        row("a custom resource deleted at once answers a Status", "DELETE", "/apis/example.com/v1/namespaces/default/widgets/w", 200)
            .order(&[(&[], STATUS), (&["details"], &["name", "group", "kind", "uid"])])
            .has("/details/group", json!("example.com"))
            .has("/details/kind", json!("widgets")),
    ]
}

async fn check(client: &kube::Client, rows: Vec<Row>) {
    for row in rows {
        let (code, bytes) = send(client, &row).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(code, row.code, "{}: {text}", row.what);
        assert!(
            text.ends_with("}\n"),
            "{}: the body ends with a newline: {text:?}",
            row.what
        );
        let ordered: Ordered = serde_json::from_slice(&bytes).unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        for (path, keys) in row.order {
            assert_eq!(
                ordered.keys_at(path),
                *keys,
                "{}: members of {path:?} in {text}",
                row.what
            );
        }
        for (pointer, expected) in &row.members {
            assert_eq!(
                value.pointer(pointer),
                expected.as_ref(),
                "{}: {pointer} in {text}",
                row.what
            );
        }
    }
}

#[tokio::test]
async fn answers_are_kubernetes_answers() {
    // No simulated nodes: a pod is on no node, so it goes at once.
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    check(&client, rows()).await;
    testkit::eventually(10, || {
        let client = client.clone();
        async move {
            let established = row(
                "",
                "GET",
                "/apis/example.com/v1/namespaces/default/widgets",
                200,
            );
            (send(&client, &established).await.0 == 200).then_some(())
        }
    })
    .await;
    check(&client, custom_rows()).await;

    // A watch: each event a line, `type` first, the object in its type's order.
    let (code, bytes) = send(
        &client,
        &row(
            "",
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1",
            200,
        ),
    )
    .await;
    assert_eq!(code, 200);
    let text = String::from_utf8(bytes).unwrap();
    let first = text.lines().next().expect("an event");
    assert!(first.starts_with("{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"), "{first}");
    assert!(text.ends_with('\n'));
    cluster.shutdown().await;
}

#[tokio::test]
async fn kubectl_reads_the_answers() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["create", "configmap", "settings", "--from-literal=k=v"])
        .await;
    let deleted = kubectl.ok(&["delete", "configmap", "settings"]).await;
    assert_eq!(deleted.trim(), "configmap \"settings\" deleted");
    let (applied, output) = kubectl
        .apply(&serde_yaml::to_string(&deployment()).unwrap())
        .await;
    assert!(applied, "{output}");
    let generation = kubectl
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "1");
    let deleted = kubectl
        .ok(&[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--wait=false",
        ])
        .await;
    assert_eq!(deleted.trim(), "deployment.apps \"web\" deleted");
    let raw = kubectl
        .ok(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/serviceaccounts/default",
        ])
        .await;
    assert!(
        raw.starts_with(
            "{\"kind\":\"ServiceAccount\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"default\""
        ),
        "{raw}"
    );
    assert!(!raw.contains("\"generation\""), "{raw}");
    cluster.shutdown().await;
}
