//! Dynamic admission webhooks: on every create, update and delete, the webhooks of the stored
//! `MutatingWebhookConfiguration`s (in name order, then their order in the object; their JSON
//! patches applied in turn) and then, after the object's validation, those of the
//! `ValidatingWebhookConfiguration`s are sent an `admission.k8s.io/v1` AdmissionReview over HTTPS.
//!
//! - `rules`: which requests a webhook sees, and whether its selectors and the request match.
//! - `review`: the AdmissionReview sent and what its response means.
//! - `call`: the HTTPS call (rustls, trusting the `caBundle`).
//!
//! A `clientConfig.service` is reached through the Endpoints object of that Service (same name):
//! its first loopback address and the port that the Service port's `targetPort` names. The
//! endpoints controller writes them for a Service with a selector (pod IPs are loopback
//! addresses); for one without, whoever runs the webhook writes them.

mod call;
mod review;
mod rules;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{AdmissionRequest, Operation};
use crate::error::ApiError;
use crate::kinds::{as_version, convert};
use crate::meta;
use crate::selector::labels_of;
use crate::storage::{ObjectKey, Store};
use call::Destination;
use review::Verdict;
use rules::{Endpoint, Target, Webhook};

const GROUP: &str = "admissionregistration.k8s.io";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Mutating,
    Validating,
}

impl Phase {
    fn storage(self) -> String {
        match self {
            Phase::Mutating => format!("mutatingwebhookconfigurations.{GROUP}"),
            Phase::Validating => format!("validatingwebhookconfigurations.{GROUP}"),
        }
    }
}

/// A failed call: denied when the policy is `Fail`, logged and skipped when it is `Ignore`.
fn call_failed(name: &str, ignore: bool, why: &str) -> Result<(), ApiError> {
    if ignore {
        tracing::warn!(
            webhook = name,
            error = why,
            "webhook call failed; failurePolicy Ignore"
        );
        return Ok(());
    }
    Err(ApiError::internal(format!(
        "Internal error occurred: failed calling webhook \"{name}\": failed to call webhook: {why}"
    )))
}

/// The webhooks configured in a cluster's storage: its webhook configurations, and the Services
/// and Endpoints through which `clientConfig.service` is reached.
pub(crate) struct Webhooks<'a> {
    store: &'a Store,
}

impl<'a> Webhooks<'a> {
    pub(crate) fn of(store: &'a Store) -> Self {
        Webhooks { store }
    }

    /// Calls the mutating webhooks that match, replacing `request.object` with each patched one.
    pub(crate) async fn call_mutating(
        &self,
        request: &mut AdmissionRequest,
    ) -> Result<(), ApiError> {
        if request.operation == Operation::Delete {
            return Ok(());
        }
        for hook in self.webhooks(Phase::Mutating, request) {
            let webhook = match hook {
                Ok(webhook) => webhook,
                Err((name, ignore, why)) => {
                    call_failed(&name, ignore, &why)?;
                    continue;
                }
            };
            let served = request
                .object
                .as_ref()
                .map(|o| as_version(&request.resource, o));
            let Some(patch) = self.call(&webhook, request, served.as_ref()).await? else {
                continue;
            };
            let Some(mut patched) = served else { continue };
            match json_patch::patch(&mut patched, &patch) {
                Ok(()) => {
                    request.object = Some(convert::to_storage(&request.resource, &patched));
                }
                Err(error) => call_failed(
                    &webhook.name,
                    webhook.ignore_failures,
                    &format!("the JSON patch cannot be applied: {error}"),
                )?,
            }
        }
        Ok(())
    }

    /// Calls the validating webhooks that match; the first denial or failure is the answer.
    pub(crate) async fn call_validating(&self, request: &AdmissionRequest) -> Result<(), ApiError> {
        let served = request
            .object
            .as_ref()
            .map(|o| as_version(&request.resource, o));
        for hook in self.webhooks(Phase::Validating, request) {
            match hook {
                Ok(webhook) => {
                    self.call(&webhook, request, served.as_ref()).await?;
                }
                Err((name, ignore, why)) => call_failed(&name, ignore, &why)?,
            }
        }
        Ok(())
    }

    /// The webhooks of `phase` whose rules and selectors match the request, in order.
    fn webhooks(
        &self,
        phase: Phase,
        request: &AdmissionRequest,
    ) -> Vec<Result<Webhook, (String, bool, String)>> {
        let resource = &request.resource;
        if resource.group == GROUP {
            // Kubernetes never sends webhook configurations to webhooks.
            return Vec::new();
        }
        let (mut configurations, _) = self.store.list(&phase.storage(), None);
        if configurations.is_empty() {
            return Vec::new();
        }
        configurations.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
        let target = Target {
            operation: request.operation.as_str(),
            group: &resource.group,
            version: &resource.version,
            resource: &resource.plural,
            subresource: request.subresource.as_deref().unwrap_or_default(),
            namespaced: resource.namespaced,
        };
        let namespace_labels = self.namespace_labels(request);
        let mut matching = Vec::new();
        for configuration in &configurations {
            for hook in rules::webhooks_of(configuration) {
                let webhook = match hook {
                    Ok(webhook) => webhook,
                    Err(broken) => {
                        matching.push(Err(broken));
                        continue;
                    }
                };
                match rules::should_call(
                    &webhook,
                    &target,
                    namespace_labels.as_ref(),
                    request.object.as_ref(),
                    request.old_object.as_ref(),
                ) {
                    Ok(true) => matching.push(Ok(webhook)),
                    Ok(false) => {}
                    Err(why) => {
                        matching.push(Err((webhook.name.clone(), webhook.ignore_failures, why)))
                    }
                }
            }
        }
        matching
    }

    /// The labels `namespaceSelector` is matched against: the namespace's for namespaced
    /// objects, a Namespace's own, none for other cluster-scoped objects.
    fn namespace_labels(&self, request: &AdmissionRequest) -> Option<BTreeMap<String, String>> {
        let resource = &request.resource;
        if resource.group.is_empty() && resource.plural == "namespaces" {
            let object = request.object.as_ref().or(request.old_object.as_ref());
            return Some(object.map(labels_of).unwrap_or_default());
        }
        if !resource.namespaced {
            return None;
        }
        let namespace = self
            .store
            .get(&ObjectKey::new("namespaces", "", &request.namespace));
        Some(namespace.map(|n| labels_of(&n)).unwrap_or_default())
    }

    /// Calls one webhook. `Ok(Some(patch))` when it allowed the request with a patch,
    /// `Ok(None)` when it allowed it without one (or failed under `Ignore`).
    async fn call(
        &self,
        webhook: &Webhook,
        request: &AdmissionRequest,
        object: Option<&Value>,
    ) -> Result<Option<json_patch::Patch>, ApiError> {
        if request.dry_run && !webhook.dry_run_safe {
            return Err(ApiError::bad_request(format!(
                "admission webhook \"{}\" does not support dry run",
                webhook.name
            )));
        }
        let failed = |why: String| call_failed(&webhook.name, webhook.ignore_failures, &why);
        if !webhook.review_versions.iter().any(|v| v == "v1") {
            failed(format!(
                "webhook does not accept v1 AdmissionReview (admissionReviewVersions {:?})",
                webhook.review_versions
            ))?;
            return Ok(None);
        }
        let destination = match self.destination(&webhook.endpoint, webhook.timeout) {
            Ok(destination) => destination,
            Err(why) => {
                failed(why)?;
                return Ok(None);
            }
        };
        let uid = uuid::Uuid::new_v4().to_string();
        let body = review::review(&uid, request, object, request.old_object.as_ref());
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let response = match call::post(
            &destination,
            webhook.ca_bundle.as_deref(),
            bytes,
            webhook.timeout,
        )
        .await
        {
            Ok(response) => response,
            Err(why) => {
                failed(why)?;
                return Ok(None);
            }
        };
        match review::verdict(&webhook.name, &uid, &response) {
            Ok(Verdict::Allowed { patch }) => Ok(patch),
            Ok(Verdict::Denied(error)) => Err(error),
            Err(why) => {
                failed(format!("{}: {why}", destination.shown))?;
                Ok(None)
            }
        }
    }

    fn destination(&self, endpoint: &Endpoint, timeout: Duration) -> Result<Destination, String> {
        match endpoint {
            Endpoint::Url(url) => call::from_url(url, timeout),
            Endpoint::Service {
                namespace,
                name,
                path,
                port,
            } => self.resolve_service(namespace, name, path, *port, timeout),
        }
    }

    /// A Service's address: the first loopback address of its Endpoints, on the port its
    /// `targetPort` names (by number or by name, or the only one).
    fn resolve_service(
        &self,
        namespace: &str,
        name: &str,
        path: &str,
        port: i64,
        timeout: Duration,
    ) -> Result<Destination, String> {
        let path_and_query = call::with_timeout(path, None, timeout);
        let server_name = format!("{name}.{namespace}.svc");
        let shown = format!("https://{server_name}:{port}{path_and_query}");
        let fail = |why: String| format!("Post \"{shown}\": {why}");
        let service = self
            .store
            .get(&ObjectKey::new("services", namespace, name))
            .ok_or_else(|| fail(format!("service \"{name}\" not found")))?;
        let service_port = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .and_then(|ports| ports.iter().find(|p| p["port"].as_i64() == Some(port)))
            .ok_or_else(|| {
                fail(format!(
                    "no service port {port} found for service \"{name}\""
                ))
            })?;
        let port_name = service_port["name"].as_str().unwrap_or_default();
        let target = service_port
            .get("targetPort")
            .cloned()
            .unwrap_or(port.into());
        let endpoints = self
            .store
            .get(&ObjectKey::new("endpoints", namespace, name))
            .ok_or_else(|| fail(format!("endpoints \"{name}\" not found")))?;
        let subsets = endpoints
            .get("subsets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for subset in &subsets {
            let ports = subset["ports"].as_array().cloned().unwrap_or_default();
            let chosen = ports
                .iter()
                .find(|p| target.as_i64().is_some() && p["port"].as_i64() == target.as_i64())
                .or_else(|| {
                    ports
                        .iter()
                        .find(|p| !port_name.is_empty() && p["name"].as_str() == Some(port_name))
                })
                .or_else(|| (ports.len() == 1).then(|| &ports[0]))
                .and_then(|p| p["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok());
            let Some(endpoint_port) = chosen else {
                continue;
            };
            let address = subset["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["ip"].as_str()?.parse::<std::net::IpAddr>().ok())
                .find(|ip| ip.is_loopback());
            if let Some(ip) = address {
                return Ok(Destination {
                    address: std::net::SocketAddr::new(ip, endpoint_port),
                    server_name,
                    path_and_query,
                    shown,
                });
            }
        }
        Err(fail(format!(
            "no loopback address and port in endpoints \"{name}\" for service port {port}"
        )))
    }
}
