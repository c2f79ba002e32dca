//! Opt-in authentication and RBAC authorization, as a layer in front of every route.
//!
//! With [`Authorization::AlwaysAllow`] (the default) every request is served, as before; the
//! layer only issues service-account tokens. With [`Authorization::Rbac`]:
//! - the admin token of the kubeconfig the cluster writes ([`ADMIN_TOKEN`]) is `system:masters`;
//! - a token from the `serviceaccounts/token` subresource (TokenRequest, what `kubectl create
//!   token` calls) is `system:serviceaccount:NS:NAME` until it expires or the service account is
//!   deleted; any other token is refused with 401;
//! - a request without a token is `system:anonymous`;
//! - each request is allowed or refused with 403 by the Roles, ClusterRoles and bindings stored
//!   at that moment ([`rbac`]).

pub mod attributes;
pub mod rbac;
mod tokens;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::error::ApiError;
use crate::registry::Cluster;
use crate::server::error_response;
use rbac::{Attributes, Policy, Subject};
use tokens::Tokens;

/// The bearer token of the kubeconfig [`crate::LocalCluster`] writes: the cluster's admin.
pub const ADMIN_TOKEN: &str = "localcluster";

/// How requests are authorized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Authorization {
    /// Every request is allowed, with or without a token.
    #[default]
    AlwaysAllow,
    /// Tokens identify users and service accounts; RBAC objects decide.
    Rbac,
}

/// The state of the layer.
pub struct Auth {
    mode: Authorization,
    cluster: Cluster,
    tokens: Tokens,
}

impl Auth {
    pub fn new(mode: Authorization, cluster: Cluster) -> Arc<Auth> {
        Arc::new(Auth {
            mode,
            cluster,
            tokens: Tokens::default(),
        })
    }

    /// Who sends `token` (`None` when the request has none); `Err` for an unknown token.
    fn authenticate(&self, token: Option<&str>) -> Result<Subject, ApiError> {
        match (self.mode, token) {
            (Authorization::AlwaysAllow, _) => Ok(Subject::admin()),
            (Authorization::Rbac, None) => Ok(Subject::anonymous()),
            (Authorization::Rbac, Some(ADMIN_TOKEN)) => Ok(Subject::admin()),
            (Authorization::Rbac, Some(token)) => self
                .tokens
                .subject(token, &self.cluster)
                .ok_or_else(unauthorized),
        }
    }

    /// The RBAC objects stored now.
    fn policy(&self) -> Policy {
        Policy {
            roles: self.objects("roles"),
            cluster_roles: self.objects("clusterroles"),
            role_bindings: self.objects("rolebindings"),
            cluster_role_bindings: self.objects("clusterrolebindings"),
        }
    }

    fn objects<T: serde::de::DeserializeOwned>(&self, plural: &str) -> Vec<T> {
        let Ok(resource) = self
            .cluster
            .resource("rbac.authorization.k8s.io/v1", plural)
        else {
            return Vec::new();
        };
        let (items, _) = self.cluster.store().list(&resource.storage, None);
        items
            .iter()
            .filter_map(|item| serde_json::from_value(Value::clone(item)).ok())
            .collect()
    }

    fn authorize(&self, subject: &Subject, attributes: &Attributes) -> Result<(), ApiError> {
        if self.mode == Authorization::AlwaysAllow
            || rbac::allows(&self.policy(), subject, attributes)
        {
            return Ok(());
        }
        let mut error = ApiError::forbidden(rbac::forbidden_message(subject, attributes));
        if let Attributes::Resource {
            group,
            resource,
            name,
            ..
        } = attributes
        {
            let mut details =
                serde_json::json!({"kind": resource, "name": name.clone().unwrap_or_default()});
            if !group.is_empty() {
                details["group"] = group.clone().into();
            }
            error.details = Some(details);
        }
        Err(error)
    }
}

fn unauthorized() -> ApiError {
    ApiError {
        code: 401,
        reason: "Unauthorized".into(),
        message: "Unauthorized".into(),
        details: None,
    }
}

fn bearer_token(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The layer: authenticates, authorizes, and serves TokenRequests itself.
pub async fn middleware(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    // Without RBAC only TokenRequests need a look; everything else passes untouched.
    if auth.mode == Authorization::AlwaysAllow && !request.uri().path().ends_with("/token") {
        return next.run(request).await;
    }
    let subject = match auth.authenticate(bearer_token(&request).as_deref()) {
        Ok(subject) => subject,
        Err(error) => return error_response(&error),
    };
    let attributes = attributes::of_request(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    );
    let required =
        std::iter::once(attributes.clone()).chain(attributes::also_required(&attributes));
    for attributes in required {
        if let Err(error) = auth.authorize(&subject, &attributes) {
            tracing::debug!(user = %subject.user, message = %error.message, "forbidden");
            return error_response(&error);
        }
    }
    if let Some((namespace, name)) = tokens::token_request_target(&attributes) {
        let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
            Ok(body) => body,
            Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
        };
        return match auth.tokens.issue(&auth.cluster, &namespace, &name, &body) {
            Ok(review) => crate::server::json_response(StatusCode::CREATED, &review),
            Err(error) => error_response(&error),
        };
    }
    next.run(request).await
}
