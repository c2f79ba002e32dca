//! Decoding the protobuf request bodies client-go's typed clients send (`kubectl create
//! namespace|configmap|secret|serviceaccount|token|quota`, evictions, delete options, and
//! LimitRanges) into JSON. Only those kinds are known; others are refused with 415, as clients then
//! know to send JSON.
//!
//! A body is the magic `k8s\0` and a `runtime.Unknown` message (type meta, raw bytes); the raw
//! bytes are the object's message, decoded here with a table of field numbers per message type
//! (the numbers of Kubernetes' `generated.proto` files).

use base64::Engine;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("the protobuf body is malformed: {0}")]
    Malformed(&'static str),
    #[error("protobuf bodies of kind {0} are not supported; send JSON")]
    UnsupportedKind(String),
}

/// How a field's value reads.
#[derive(Clone, Copy)]
enum Field {
    Text,
    Int,
    Bool,
    /// `meta.v1.Time`: seconds and nanos, printed as RFC 3339.
    Time,
    Message(&'static [Entry]),
    TextMap,
    /// `map<string, bytes>`: values appear base64-encoded in JSON.
    BytesMap,
    /// `map<string, Quantity>`: values are `resource.Quantity` messages, strings in JSON.
    QuantityMap,
    RepeatedText,
    RepeatedMessage(&'static [Entry]),
}

type Entry = (u64, &'static str, Field);

const OWNER_REFERENCE: &[Entry] = &[
    (1, "kind", Field::Text),
    (3, "name", Field::Text),
    (4, "uid", Field::Text),
    (5, "apiVersion", Field::Text),
    (6, "controller", Field::Bool),
    (7, "blockOwnerDeletion", Field::Bool),
];

const OBJECT_META: &[Entry] = &[
    (1, "name", Field::Text),
    (2, "generateName", Field::Text),
    (3, "namespace", Field::Text),
    (5, "uid", Field::Text),
    (6, "resourceVersion", Field::Text),
    (7, "generation", Field::Int),
    (8, "creationTimestamp", Field::Time),
    (9, "deletionTimestamp", Field::Time),
    (10, "deletionGracePeriodSeconds", Field::Int),
    (11, "labels", Field::TextMap),
    (12, "annotations", Field::TextMap),
    (
        13,
        "ownerReferences",
        Field::RepeatedMessage(OWNER_REFERENCE),
    ),
    (14, "finalizers", Field::RepeatedText),
];

const NAMESPACE: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[(1, "finalizers", Field::RepeatedText)]),
    ),
];

const CONFIG_MAP: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "data", Field::TextMap),
    (3, "binaryData", Field::BytesMap),
    (4, "immutable", Field::Bool),
];

const SECRET: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "data", Field::BytesMap),
    (3, "type", Field::Text),
    (4, "stringData", Field::TextMap),
    (5, "immutable", Field::Bool),
];

const OBJECT_REFERENCE: &[Entry] = &[
    (1, "kind", Field::Text),
    (2, "namespace", Field::Text),
    (3, "name", Field::Text),
    (4, "uid", Field::Text),
    (5, "apiVersion", Field::Text),
];

const SERVICE_ACCOUNT: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "secrets", Field::RepeatedMessage(OBJECT_REFERENCE)),
    (
        3,
        "imagePullSecrets",
        Field::RepeatedMessage(&[(1, "name", Field::Text)]),
    ),
    (4, "automountServiceAccountToken", Field::Bool),
];

/// `authentication.k8s.io/v1` TokenRequest (`kubectl create token`).
const TOKEN_REQUEST: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[
            (1, "audiences", Field::RepeatedText),
            (
                3,
                "boundObjectRef",
                Field::Message(&[
                    (1, "kind", Field::Text),
                    (2, "apiVersion", Field::Text),
                    (3, "name", Field::Text),
                    (4, "uid", Field::Text),
                ]),
            ),
            (4, "expirationSeconds", Field::Int),
        ]),
    ),
];

const RESOURCE_QUOTA: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[
            (1, "hard", Field::QuantityMap),
            (2, "scopes", Field::RepeatedText),
            (
                3,
                "scopeSelector",
                Field::Message(&[(
                    1,
                    "matchExpressions",
                    Field::RepeatedMessage(&[
                        (1, "scopeName", Field::Text),
                        (2, "operator", Field::Text),
                        (3, "values", Field::RepeatedText),
                    ]),
                )]),
            ),
        ]),
    ),
];

const LIMIT_RANGE: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[(
            1,
            "limits",
            Field::RepeatedMessage(&[
                (1, "type", Field::Text),
                (2, "max", Field::QuantityMap),
                (3, "min", Field::QuantityMap),
                (4, "default", Field::QuantityMap),
                (5, "defaultRequest", Field::QuantityMap),
                (6, "maxLimitRequestRatio", Field::QuantityMap),
            ]),
        )]),
    ),
];

const DELETE_OPTIONS: &[Entry] = &[
    (1, "gracePeriodSeconds", Field::Int),
    (
        2,
        "preconditions",
        Field::Message(&[(1, "uid", Field::Text), (2, "resourceVersion", Field::Text)]),
    ),
    (3, "orphanDependents", Field::Bool),
    (4, "propagationPolicy", Field::Text),
    (5, "dryRun", Field::RepeatedText),
];

const EVICTION: &[Entry] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "deleteOptions", Field::Message(DELETE_OPTIONS)),
];

fn schema_of(api_version: &str, kind: &str) -> Option<&'static [Entry]> {
    match (api_version, kind) {
        ("v1", "Namespace") => Some(NAMESPACE),
        ("v1", "ConfigMap") => Some(CONFIG_MAP),
        ("v1", "Secret") => Some(SECRET),
        ("v1", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("v1", "ResourceQuota") => Some(RESOURCE_QUOTA),
        ("v1", "LimitRange") => Some(LIMIT_RANGE),
        ("policy/v1", "Eviction") => Some(EVICTION),
        ("authentication.k8s.io/v1", "TokenRequest") => Some(TOKEN_REQUEST),
        (_, "DeleteOptions") => Some(DELETE_OPTIONS),
        _ => None,
    }
}

const MAGIC: &[u8] = b"k8s\x00";

/// Writing the protobuf wire format: `/openapi/v2`'s document, and the tests' bodies.
pub(crate) mod wire {
    pub fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// A length-delimited field: a string, bytes or a message.
    pub fn bytes(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
}

/// The JSON object of a protobuf request body.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::Malformed("missing the k8s magic prefix"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for field in Fields::new(envelope) {
        match field? {
            (1, Wire::Bytes(type_meta)) => {
                for inner in Fields::new(type_meta) {
                    match inner? {
                        (1, Wire::Bytes(text)) => api_version = text_of(text)?,
                        (2, Wire::Bytes(text)) => kind = text_of(text)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let schema = schema_of(&api_version, &kind)
        .ok_or_else(|| ProtobufError::UnsupportedKind(kind.clone()))?;
    let mut object = message(raw, schema)?;
    object.insert("apiVersion".into(), api_version.into());
    object.insert("kind".into(), kind.into());
    Ok(Value::Object(object))
}

/// One field's wire value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Iterates the (field number, value) pairs of a message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .rest
                .split_first()
                .ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn skip(&mut self, count: usize) -> Result<&'a [u8], ProtobufError> {
        if self.rest.len() < count {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Wire::Varint(self.varint()?),
                1 => self.skip(8).map(|_| Wire::Fixed)?,
                2 => {
                    let length = usize::try_from(self.varint()?)
                        .map_err(|_| ProtobufError::Malformed("length"))?;
                    Wire::Bytes(self.skip(length)?)
                }
                5 => self.skip(4).map(|_| Wire::Fixed)?,
                _ => return Err(ProtobufError::Malformed("unsupported wire type")),
            };
            Ok((key >> 3, value))
        })();
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
    }
}

fn text_of(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("text is not UTF-8"))
}

fn map_entry(bytes: &[u8], kind: Field) -> Result<(String, Value), ProtobufError> {
    let (mut key, mut value) = (String::new(), Value::String(String::new()));
    for field in Fields::new(bytes) {
        match (field?, kind) {
            ((1, Wire::Bytes(k)), _) => key = text_of(k)?,
            ((2, Wire::Bytes(v)), Field::BytesMap) => {
                value = base64::engine::general_purpose::STANDARD.encode(v).into()
            }
            ((2, Wire::Bytes(v)), Field::QuantityMap) => {
                // `message Quantity { optional string string = 1; }`
                for inner in Fields::new(v) {
                    if let (1, Wire::Bytes(text)) = inner? {
                        value = text_of(text)?.into();
                    }
                }
            }
            ((2, Wire::Bytes(v)), _) => value = text_of(v)?.into(),
            _ => {}
        }
    }
    Ok((key, value))
}

fn time(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut seconds = 0i64;
    for field in Fields::new(bytes) {
        if let (1, Wire::Varint(s)) = field? {
            seconds = s as i64;
        }
    }
    let time = jiff::Timestamp::from_second(seconds)
        .map_err(|_| ProtobufError::Malformed("time out of range"))?;
    Ok(crate::meta::format_time(time).into())
}

fn message(bytes: &[u8], schema: &[Entry]) -> Result<Map<String, Value>, ProtobufError> {
    let mut object = Map::new();
    for field in Fields::new(bytes) {
        let (number, wire) = field?;
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = name.to_string();
        match (kind, wire) {
            (Field::Text, Wire::Bytes(b)) => {
                object.insert(name, text_of(b)?.into());
            }
            (Field::Int, Wire::Varint(v)) => {
                object.insert(name, (v as i64).into());
            }
            (Field::Bool, Wire::Varint(v)) => {
                object.insert(name, (v != 0).into());
            }
            (Field::Time, Wire::Bytes(b)) => {
                object.insert(name, time(b)?);
            }
            (Field::Message(inner), Wire::Bytes(b)) => {
                object.insert(name, Value::Object(message(b, inner)?));
            }
            (Field::TextMap | Field::BytesMap | Field::QuantityMap, Wire::Bytes(b)) => {
                let (key, value) = map_entry(b, *kind)?;
                let map = object
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(map) = map.as_object_mut() {
                    map.insert(key, value);
                }
            }
            (Field::RepeatedText, Wire::Bytes(b)) => push(&mut object, name, text_of(b)?.into()),
            (Field::RepeatedMessage(inner), Wire::Bytes(b)) => {
                push(&mut object, name, Value::Object(message(b, inner)?))
            }
            _ => {
                return Err(ProtobufError::Malformed(
                    "a field has an unexpected wire type",
                ));
            }
        }
    }
    Ok(object)
}

fn push(object: &mut Map<String, Value>, name: String, value: Value) {
    if let Some(list) = object
        .entry(name)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
    {
        list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes_field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wire::bytes(number, bytes, &mut out);
        out
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [
            bytes_field(1, api_version.as_bytes()),
            bytes_field(2, kind.as_bytes()),
        ]
        .concat();
        [
            MAGIC.to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, raw),
        ]
        .concat()
    }

    #[test]
    fn decodes_a_config_map_as_kubectl_sends_it() {
        let label = [bytes_field(1, b"app"), bytes_field(2, b"web")].concat();
        let metadata = [
            bytes_field(1, b"settings"),
            bytes_field(3, b"team"),
            bytes_field(11, &label),
        ]
        .concat();
        let entry = [bytes_field(1, b"a"), bytes_field(2, b"1")].concat();
        let binary = [bytes_field(1, b"b"), bytes_field(2, b"hi")].concat();
        let mut raw = [
            bytes_field(1, &metadata),
            bytes_field(2, &entry),
            bytes_field(3, &binary),
        ]
        .concat();
        raw.extend([4 << 3, 1]);
        let object = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true,
                   "metadata": {"name": "settings", "namespace": "team", "labels": {"app": "web"}},
                   "data": {"a": "1"}, "binaryData": {"b": "aGk="}})
        );
    }

    #[test]
    fn decodes_a_resource_quota_as_kubectl_create_quota_sends_it() {
        let quantity = bytes_field(1, b"500m");
        let hard = [bytes_field(1, b"requests.cpu"), bytes_field(2, &quantity)].concat();
        let spec = [bytes_field(1, &hard), bytes_field(2, b"NotTerminating")].concat();
        let raw = [
            bytes_field(1, &bytes_field(1, b"compute")),
            bytes_field(2, &spec),
        ]
        .concat();
        let object = decode(&envelope("v1", "ResourceQuota", &raw)).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
                   "spec": {"hard": {"requests.cpu": "500m"}, "scopes": ["NotTerminating"]}})
        );
    }

    #[test]
    fn refuses_unknown_kinds_and_garbage() {
        assert!(matches!(
            decode(&envelope("apps/v1", "Deployment", &[])),
            Err(ProtobufError::UnsupportedKind(_))
        ));
        assert!(decode(b"not protobuf").is_err());
        assert!(decode(&[MAGIC, &[0x0a, 0x05, 0x01]].concat()).is_err());
    }
}
