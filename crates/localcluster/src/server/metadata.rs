//! Metadata-only reads: `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`
//! turns an object (of a get, a write or a watch event) into its metadata alone, and
//! `as=PartialObjectMetadataList` does the same for each item of a list. Controllers that only
//! need labels and owners (kube-rs's `Api<PartialObjectMeta<K>>`, controller-runtime's
//! `OnlyMetadata`) then receive a few hundred bytes per object instead of the whole object.

use serde_json::{Value, json};

use crate::error::ApiError;

const GROUP_VERSION: &str = "meta.k8s.io/v1";

/// Which metadata-only form the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataForm {
    /// `as=PartialObjectMetadata`: gets, writes and watches.
    Object,
    /// `as=PartialObjectMetadataList`: lists.
    List,
}

/// The metadata-only form named by `accept`, if any of its media types names one.
pub fn requested(accept: &str) -> Option<MetadataForm> {
    super::meta_forms(accept).find_map(|form| match form {
        "PartialObjectMetadata" => Some(MetadataForm::Object),
        "PartialObjectMetadataList" => Some(MetadataForm::List),
        _ => None,
    })
}

/// The form a list needs (`List`) or anything else needs (`Object`), as the API server insists:
/// the other one is not acceptable.
pub fn check(form: MetadataForm, expected: MetadataForm) -> Result<(), ApiError> {
    if form == expected {
        Ok(())
    } else {
        Err(not_acceptable(expected))
    }
}

/// The refusal of the form other than `expected`.
pub fn not_acceptable(expected: MetadataForm) -> ApiError {
    let (asked, wanted) = match expected {
        MetadataForm::List => ("PartialObjectMetadata", "PartialObjectMetadataList"),
        MetadataForm::Object => ("PartialObjectMetadataList", "PartialObjectMetadata"),
    };
    ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json;as={wanted};g=meta.k8s.io;v=v1 (got as={asked})"
    ))
}

/// `object` as a PartialObjectMetadata.
pub fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": GROUP_VERSION,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A list (its `metadata` and `items`) as a PartialObjectMetadataList.
pub fn partial_list(list: &Value) -> Value {
    let items: Vec<Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(partial).collect())
        .unwrap_or_default();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": GROUP_VERSION,
        "metadata": list.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_form_from_any_media_type_of_the_accept_header() {
        let object = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        let list = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(requested(object), Some(MetadataForm::Object));
        assert_eq!(requested(list), Some(MetadataForm::List));
        assert_eq!(
            requested(&format!("{object}, application/json")),
            Some(MetadataForm::Object)
        );
        assert_eq!(requested("application/json"), None);
        assert_eq!(
            requested("application/json;as=Table;g=meta.k8s.io;v=v1"),
            None
        );
        // Another group's PartialObjectMetadata is not the API server's.
        assert_eq!(
            requested("application/json;as=PartialObjectMetadata;g=example.com;v=v1"),
            None
        );
    }

    #[test]
    fn the_other_form_is_not_acceptable() {
        assert!(check(MetadataForm::List, MetadataForm::List).is_ok());
        let error = check(MetadataForm::Object, MetadataForm::List).unwrap_err();
        assert_eq!(error.to_status()["code"], 406);
        assert!(
            error.to_status()["message"]
                .as_str()
                .unwrap()
                .contains("as=PartialObjectMetadataList")
        );
    }

    #[test]
    fn keeps_the_metadata_alone() {
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "b"}, "resourceVersion": "7"},
            "data": {"big": "x"}});
        assert_eq!(
            partial(&config_map),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"name": "c", "labels": {"a": "b"}, "resourceVersion": "7"}})
        );
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList",
            "metadata": {"resourceVersion": "9"}, "items": [config_map]});
        let partial_list = partial_list(&list);
        assert_eq!(partial_list["kind"], "PartialObjectMetadataList");
        assert_eq!(partial_list["metadata"]["resourceVersion"], "9");
        assert_eq!(partial_list["items"][0]["metadata"]["name"], "c");
        assert!(partial_list["items"][0].get("data").is_none());
    }
}
