//! The HTTPS admission server: rustls with a certificate that can be replaced while serving (new
//! handshakes get the new one; open connections carry on), and the three webhook paths.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kube::{Api, Client};
use serde_json::Value;
use spark_operator_api::SparkApplication;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use super::certs::Bundle;
use super::review::{
    self, MUTATE_POD_PATH, VALIDATE_APPLICATION_PATH, VALIDATE_CONNECT_PATH,
    VALIDATE_SCHEDULED_PATH,
};
use crate::metrics::Metrics;

/// The serving certificate, replaceable at any time.
#[derive(Debug, Default)]
pub struct Resolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl Resolver {
    /// Serves `bundle`'s certificate (with its CA) from the next handshake on.
    pub fn install(&self, bundle: &Bundle) -> anyhow::Result<()> {
        let mut chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(bundle.server_cert.as_bytes())
                .collect::<Result<_, _>>()?;
        chain.extend(
            CertificateDer::pem_slice_iter(bundle.ca_cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()?,
        );
        let key = PrivateKeyDer::from_pem_slice(bundle.server_key.as_bytes())?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(CertifiedKey::new(chain, signer)));
        Ok(())
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The rustls configuration serving whatever `resolver` holds.
pub fn tls_config(resolver: Arc<Resolver>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What the admission routes share.
#[derive(Clone)]
struct Admission {
    /// Reads the applications of pods.
    client: Client,
    metrics: Metrics,
    scope: Scope,
}

/// What the webhooks look at: objects of `namespaces` (empty: all; others are admitted
/// unchanged), and with `quota_enforcement` whether a new application fits its namespace's
/// ResourceQuotas (Kubeflow's `--namespaces`, `--enable-resource-quota-enforcement`).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub namespaces: Vec<String>,
    pub quota_enforcement: bool,
}

impl Scope {
    fn covers(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }
}

/// The admission routes; pods' applications are read with `client`, and each review is counted
/// in `metrics`.
pub fn router(client: Client, metrics: Metrics, scope: Scope) -> Router {
    Router::new()
        .route(VALIDATE_APPLICATION_PATH, post(admit))
        .route(VALIDATE_SCHEDULED_PATH, post(admit))
        .route(VALIDATE_CONNECT_PATH, post(admit))
        .route(MUTATE_POD_PATH, post(admit))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Admission {
            client,
            metrics,
            scope,
        })
}

fn json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn admit(State(admission): State<Admission>, uri: Uri, body: Bytes) -> Response {
    let counted = admission.metrics.admission_review(uri.path());
    let response = answer(admission.client, &admission.scope, &uri, &body).await;
    counted.answered(response.status().as_u16());
    response
}

async fn answer(client: Client, scope: &Scope, uri: &Uri, body: &[u8]) -> Response {
    let request = match serde_json::from_slice::<Value>(body)
        .map_err(|e| format!("the body is not JSON: {e}"))
        .and_then(|review| review::request(&review))
    {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    if !scope.covers(&request.namespace) {
        return json(StatusCode::OK, &review::allowed(&request.uid));
    }
    let answer = if uri.path() == MUTATE_POD_PATH {
        let app = match review::pod_application(&request) {
            Some((namespace, name, _)) => {
                let api: Api<SparkApplication> = Api::namespaced(client, &namespace);
                match api.get_opt(&name).await {
                    Ok(app) => app,
                    Err(error) => {
                        tracing::warn!(%error, app = name, "application of a pod not read");
                        None
                    }
                }
            }
            None => None,
        };
        review::mutate_pod(&request, app.as_ref())
    } else {
        let verdict = review::validate(&request);
        if scope.quota_enforcement && verdict["response"]["allowed"] == true {
            quota_verdict(client, &request).await.unwrap_or(verdict)
        } else {
            verdict
        }
    };
    json(StatusCode::OK, &answer)
}

/// With quota enforcement, a denial for a SparkApplication whose spec changed (or is new) and
/// does not fit its namespace's ResourceQuotas; `None` when it fits or is not such a request.
/// Quotas with scopes are passed over, as Kubeflow does.
async fn quota_verdict(client: Client, request: &review::Request) -> Option<Value> {
    if request.kind != "SparkApplication" || request.operation == "DELETE" {
        return None;
    }
    let app: SparkApplication = serde_json::from_value(request.object.clone()).ok()?;
    let api: Api<k8s_openapi::api::core::v1::ResourceQuota> =
        Api::namespaced(client, &request.namespace);
    let quotas = match api.list(&Default::default()).await {
        Ok(list) => list.items,
        Err(error) => {
            return Some(review::denied(
                &request.uid,
                &format!(
                    "the ResourceQuotas of {} could not be read: {error}",
                    request.namespace
                ),
            ));
        }
    };
    let unscoped: Vec<_> = quotas
        .into_iter()
        .filter(|q| {
            q.spec.as_ref().is_none_or(|spec| {
                spec.scope_selector.is_none() && spec.scopes.as_ref().is_none_or(Vec::is_empty)
            })
        })
        .collect();
    let asked = crate::lifecycle::quota::application_request(&app.spec);
    let refusal = crate::lifecycle::quota::refusal(&unscoped, &asked)?;
    Some(review::denied(
        &request.uid,
        &format!(
            "SparkApplication {}/{} does not fit the ResourceQuotas of its namespace (its driver and first executors together): {refusal}",
            request.namespace,
            app.metadata.name.unwrap_or_default()
        ),
    ))
}
