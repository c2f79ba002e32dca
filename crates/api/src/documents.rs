//! The objects of a manifest file as kubectl reads them: a YAML stream of documents, or JSON (one
//! object or several in a row), with `List` objects standing for their items. JSON is read as
//! JSON, not as YAML: Python's `json.dump` writes characters outside the Basic Multilingual Plane
//! as surrogate-pair escapes (`"\ud83d\ude80"`), which JSON allows and YAML does not.
//!
//! sparkctl and `spark-operator validate` read files through this module, so a file one of them
//! accepts the other does too, as kubectl would.

use serde::Deserialize;
use serde_json::Value;

/// Why a file's objects cannot be read: the document (counted from 1), the line and column when
/// known, and the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}{}: {reason}", at.map(|(line, column)| format!(", line {line}, column {column}")).unwrap_or_default())]
pub struct DocumentError {
    pub document: usize,
    pub at: Option<(usize, usize)>,
    pub reason: String,
}

/// Every object of `text`, in order; empty documents are skipped and `List`s expanded.
pub fn parse(text: &str) -> Result<Vec<Value>, DocumentError> {
    let documents = if looks_like_json(text) {
        json_documents(text)?
    } else {
        yaml_documents(text)?
    };
    let mut objects = Vec::new();
    for document in documents {
        expand(document, &mut objects);
    }
    Ok(objects)
}

/// kubectl's test: a stream whose first non-blank character opens a JSON object or array.
fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '['])
}

fn json_documents(text: &str) -> Result<Vec<Value>, DocumentError> {
    let mut documents = Vec::new();
    let stream = serde_json::Deserializer::from_str(text.trim_start_matches('\u{feff}'));
    for (index, document) in stream.into_iter::<Value>().enumerate() {
        let document = document.map_err(|error| DocumentError {
            document: index + 1,
            at: Some((error.line(), error.column())),
            reason: error.to_string(),
        })?;
        match document {
            // A top-level array holds objects, as `kubectl get -o json` of several names prints.
            Value::Array(items) => documents.extend(items),
            other => documents.push(other),
        }
    }
    Ok(documents)
}

fn yaml_documents(text: &str) -> Result<Vec<Value>, DocumentError> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|error| DocumentError {
            document: index + 1,
            at: error.location().map(|at| (at.line(), at.column())),
            reason: error.to_string(),
        })?;
        documents.push(value);
    }
    Ok(documents)
}

fn expand(document: Value, objects: &mut Vec<Value>) {
    match document {
        Value::Null => {}
        Value::Object(mut object) if is_list(&object) => {
            if let Some(Value::Array(items)) = object.remove("items") {
                for item in items {
                    expand(item, objects);
                }
            }
        }
        other => objects.push(other),
    }
}

/// `kind: List`, or any `...List` kind with `items`, as kubectl treats them.
fn is_list(object: &serde_json::Map<String, Value>) -> bool {
    object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
        && object.get("items").is_some_and(Value::is_array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_surrogate_pairs_is_read_as_json() {
        let text = r#"{"kind": "SparkApplication", "metadata": {"name": "pi", "annotations": {"note": "\ud83d\ude80"}}}"#;
        let objects = parse(text).unwrap();
        assert_eq!(objects[0]["metadata"]["annotations"]["note"], "\u{1f680}");
    }

    #[test]
    fn a_yaml_stream_skips_empty_documents_and_expands_lists() {
        let text = "kind: A\n---\n---\nkind: List\nitems:\n- kind: B\n- kind: C\n";
        let kinds: Vec<_> = parse(text)
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["A", "B", "C"]);
    }

    #[test]
    fn several_json_objects_and_arrays() {
        let text = "{\"kind\": \"A\"}\n{\"kind\": \"B\"}\n[{\"kind\": \"C\"}]";
        assert_eq!(parse(text).unwrap().len(), 3);
    }

    #[test]
    fn errors_name_the_document_and_line() {
        let error = parse("kind: A\n---\nmetadata:\n  name: [unclosed\n").unwrap_err();
        assert_eq!(error.document, 2);
        assert!(error.at.is_some(), "{error}");
        let error = parse("{\"kind\": \"A\",\n \"x\": }").unwrap_err();
        assert_eq!((error.document, error.at.map(|a| a.0)), (1, Some(2)));
        assert!(
            error.to_string().starts_with("document 1, line 2"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_file_has_no_objects() {
        assert_eq!(parse("").unwrap(), Vec::<Value>::new());
        assert_eq!(parse("---\n# nothing\n").unwrap(), Vec::<Value>::new());
    }
}
