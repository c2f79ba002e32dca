//! Service-account tokens: issued by the `serviceaccounts/token` subresource (TokenRequest),
//! valid until they expire or their service account is deleted (or made again, with a new uid).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::rbac::{Attributes, Subject};
use crate::error::ApiError;
use crate::registry::Cluster;
use crate::server::protobuf;

/// Kubernetes' default and minimum token lifetimes.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;

struct Issued {
    namespace: String,
    name: String,
    uid: String,
    expires: SystemTime,
}

#[derive(Default)]
pub(super) struct Tokens {
    issued: Mutex<HashMap<String, Issued>>,
}

/// The service account a request creates a token for, if it is a TokenRequest.
pub(super) fn token_request_target(attributes: &Attributes) -> Option<(String, String)> {
    match attributes {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource: Some(sub),
            namespace: Some(namespace),
            name: Some(name),
        } if verb == "create"
            && group.is_empty()
            && resource == "serviceaccounts"
            && sub == "token" =>
        {
            Some((namespace.clone(), name.clone()))
        }
        _ => None,
    }
}

fn service_account_uid(cluster: &Cluster, namespace: &str, name: &str) -> Result<String, ApiError> {
    let resource = cluster.resource("v1", "serviceaccounts")?;
    let account = cluster.get(&resource, namespace, name)?;
    Ok(account["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

impl Tokens {
    /// The subject of a live token of an existing service account.
    pub(super) fn subject(&self, token: &str, cluster: &Cluster) -> Option<Subject> {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let entry = issued.get(token)?;
        if entry.expires <= SystemTime::now() {
            return None;
        }
        let uid = service_account_uid(cluster, &entry.namespace, &entry.name).ok()?;
        (uid == entry.uid).then(|| Subject::service_account(&entry.namespace, &entry.name))
    }

    /// Answers a TokenRequest (`body`) for the service account `namespace/name`.
    pub(super) fn issue(
        &self,
        cluster: &Cluster,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let request: Value = if body.is_empty() {
            json!({})
        } else if body.starts_with(b"k8s\0") {
            protobuf::decode(body).map_err(|e| ApiError::bad_request(e.to_string()))?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("TokenRequest is not JSON: {e}")))?
        };
        let spec = &request["spec"];
        let seconds = spec["expirationSeconds"]
            .as_i64()
            .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
        if seconds < MIN_EXPIRATION_SECONDS {
            return Err(ApiError::unprocessable(format!(
                "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than {MIN_EXPIRATION_SECONDS} seconds"
            )));
        }
        let uid = service_account_uid(cluster, namespace, name)?;
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        let now = SystemTime::now();
        let expires = now + Duration::from_secs(seconds as u64);
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                Issued {
                    namespace: namespace.into(),
                    name: name.into(),
                    uid,
                    expires,
                },
            );
        let timestamp = |t: SystemTime| {
            jiff::Timestamp::try_from(t)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        };
        Ok(json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": timestamp(now)},
            "spec": {
                "audiences": spec["audiences"].as_array().cloned().unwrap_or_default(),
                "expirationSeconds": seconds,
                "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null),
            },
            "status": {"token": token, "expirationTimestamp": timestamp(expires)},
        }))
    }
}
