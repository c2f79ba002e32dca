//! `admission.k8s.io/v1` AdmissionReview: the request the API server sends and what it makes of
//! the response. Pure.

use base64::Engine;
use serde_json::{Value, json};

use crate::admission::{AdmissionRequest, Operation};
use crate::error::ApiError;

/// The review sent for `request`, whose objects are given as served.
pub fn review(
    uid: &str,
    request: &AdmissionRequest,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> Value {
    let resource = &request.resource;
    let kind = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let gvr =
        json!({"group": resource.group, "version": resource.version, "resource": resource.plural});
    let options_kind = match request.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    };
    let mut body = json!({
        "uid": uid,
        "kind": kind,
        "resource": gvr,
        "requestKind": kind,
        "requestResource": gvr,
        "name": request.name,
        "operation": request.operation.as_str(),
        "userInfo": {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]},
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old_object.cloned().unwrap_or(Value::Null),
        "dryRun": request.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    });
    if resource.namespaced {
        body["namespace"] = json!(request.namespace);
    }
    if let Some(subresource) = request.subresource.as_deref().filter(|s| !s.is_empty()) {
        body["subResource"] = json!(subresource);
        body["requestSubResource"] = json!(subresource);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body})
}

/// What a webhook answered.
#[derive(Debug)]
pub enum Verdict {
    Allowed { patch: Option<json_patch::Patch> },
    Denied(ApiError),
}

/// Reads a response; an `Err` is a failed call (subject to the failure policy).
pub fn verdict(webhook: &str, uid: &str, response: &Value) -> Result<Verdict, String> {
    if response.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || response.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(format!(
            "expected response of kind AdmissionReview admission.k8s.io/v1, got {}, {}",
            response["kind"], response["apiVersion"]
        ));
    }
    let Some(answer) = response.get("response").filter(|r| r.is_object()) else {
        return Err("webhook response was absent".into());
    };
    let got = answer
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != uid {
        return Err(format!("expected response.uid={uid:?}, got {got:?}"));
    }
    if answer.get("allowed").and_then(Value::as_bool) != Some(true) {
        return Ok(Verdict::Denied(denial(
            webhook,
            answer.get("status").unwrap_or(&Value::Null),
        )));
    }
    let patch = match answer.get("patch").and_then(Value::as_str) {
        None | Some("") => None,
        Some(encoded) => {
            match answer.get("patchType").and_then(Value::as_str) {
                Some("JSONPatch") => {}
                other => {
                    return Err(format!(
                        "unsupported patch type {:?}: only JSONPatch is",
                        other.unwrap_or_default()
                    ));
                }
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("patch is not base64: {e}"))?;
            let patch: json_patch::Patch = serde_json::from_slice(&bytes)
                .map_err(|e| format!("patch is not a JSON patch: {e}"))?;
            Some(patch)
        }
    };
    Ok(Verdict::Allowed { patch })
}

/// The error a denial becomes, worded as Kubernetes' `webhookerrors.ToStatusErr`.
pub fn denial(webhook: &str, status: &Value) -> ApiError {
    let denied_by = format!("admission webhook \"{webhook}\" denied the request");
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reason = status
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = match (message.is_empty(), reason.is_empty()) {
        (false, _) => format!("{denied_by}: {message}"),
        (true, false) => format!("{denied_by}: {reason}"),
        (true, true) => format!("{denied_by} without explanation"),
    };
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(400);
    ApiError {
        code,
        reason: reason.to_string(),
        message,
        details: status.get("details").filter(|d| d.is_object()).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(answer: Value) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer})
    }

    #[test]
    fn denials_are_worded_as_kubernetes_words_them() {
        let denied = verdict(
            "v.example.com",
            "u1",
            &response(
                json!({"uid": "u1", "allowed": false, "status": {"message": "spec.x: bad", "code": 422}}),
            ),
        );
        let Ok(Verdict::Denied(error)) = denied else {
            panic!("expected a denial, got {denied:?}");
        };
        assert_eq!(
            error.message,
            "admission webhook \"v.example.com\" denied the request: spec.x: bad"
        );
        assert_eq!(error.code, 422);
        let bare = denial("w", &Value::Null);
        assert_eq!(
            bare.message,
            "admission webhook \"w\" denied the request without explanation"
        );
        assert_eq!(bare.code, 400);
    }

    #[test]
    fn patches_and_bad_responses() {
        let patch = base64::engine::general_purpose::STANDARD
            .encode(r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]"#);
        let ok = verdict(
            "w",
            "u",
            &response(
                json!({"uid": "u", "allowed": true, "patchType": "JSONPatch", "patch": patch}),
            ),
        );
        assert!(matches!(ok, Ok(Verdict::Allowed { patch: Some(_) })));
        assert!(
            verdict(
                "w",
                "u",
                &response(json!({"uid": "other", "allowed": true}))
            )
            .is_err()
        );
        assert!(
            verdict(
                "w",
                "u",
                &json!({"response": {"uid": "u", "allowed": true}})
            )
            .is_err()
        );
        assert!(
            verdict(
                "w",
                "u",
                &response(json!({"uid": "u", "allowed": true, "patch": "!!"}))
            )
            .is_err()
        );
    }
}
