//! Admission: what may change or refuse a create, update or delete after the kind's own strategy
//! (defaults, fields the server sets) and before it is stored, as the API server's admission
//! chain does. The registry runs it on every write ([`crate::registry::Cluster`]): mutating
//! admission, then the object's validation, then validating admission.
//!
//! - [`Admission`]: an in-process hook (one per cluster, `Cluster::set_admission`), for tests and
//!   tools that want to change or refuse writes without running a webhook server. It runs before
//!   the webhooks in each phase.
//! - `webhooks`: dynamic admission, the stored `MutatingWebhookConfiguration`s and
//!   `ValidatingWebhookConfiguration`s, each matching webhook called over HTTPS with an
//!   AdmissionReview.
//!
//! - Kubernetes' built-in plugins, each a module of its own, run in the API server's order:
//!   `limit_ranger` (defaults, then constraints) and `service_account` (the pod's service account
//!   must exist) first among the mutating plugins, `limit_ranger`'s constraints first among the
//!   validating ones and `resource_quota` last of all. They read the store directly, one indexed
//!   lookup or one namespace's range per request.

pub(crate) mod limit_ranger;
pub(crate) mod resource_quota;
pub(crate) mod service_account;
pub(crate) mod webhooks;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::ResourceType;

/// The write an admission hook is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What admission sees of a write, as in an `AdmissionReview` request.
#[derive(Debug, Clone)]
pub struct AdmissionRequest {
    pub operation: Operation,
    pub resource: Arc<ResourceType>,
    pub subresource: Option<String>,
    pub namespace: String,
    pub name: String,
    /// The object to be stored (create, update).
    pub object: Option<Value>,
    /// The stored object (update, delete).
    pub old_object: Option<Value>,
    pub dry_run: bool,
}

/// The admission hook: called on every create, update and delete after the kind's own defaulting
/// and before anything is stored. `mutate` runs first and may return a changed object; then the
/// object is validated (schema, kind rules), then `validate` may still reject it. An `Err` is
/// returned to the client as is.
pub trait Admission: Send + Sync {
    fn mutate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
    ) -> BoxFuture<'a, Result<Option<Value>, ApiError>> {
        let _ = request;
        Box::pin(async { Ok(None) })
    }
    fn validate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let _ = request;
        Box::pin(async { Ok(()) })
    }
}
