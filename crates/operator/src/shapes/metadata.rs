//! Reading an object's metadata without its `managedFields`.
//!
//! The API server records every write in `metadata.managedFields`, and sends the whole record in
//! each watch event: a pod the operator created and the kubelet ran carries an entry listing
//! every field of its spec and another listing its status, often more JSON than the rest of the
//! metadata. The controller never reads it, and typed, it is a tree of maps allocated for every
//! event. So the watched shapes skip it while parsing, instead of decoding it and dropping it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use std::borrow::Cow;
use std::fmt;

const MANAGED_FIELDS: &str = "managedFields";

/// `ObjectMeta` as `deserializer` holds it, less its `managedFields`; for `deserialize_with`.
pub fn without_managed_fields<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<ObjectMeta, D::Error> {
    ObjectMeta::deserialize(Filtered(deserializer))
}

/// A deserializer that hands the map it reads to its visitor without the `managedFields` entry.
struct Filtered<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Filtered<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(FilteringVisitor(visitor))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct FilteringVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for FilteringVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(FilteredMap(map))
    }
}

struct FilteredMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FilteredMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(Key(key)) = self.0.next_key::<Key<'de>>()? {
            if key == MANAGED_FIELDS {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            let key: de::value::CowStrDeserializer<'de, A::Error> =
                de::IntoDeserializer::into_deserializer(key);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// A key of the metadata, borrowed from the input when it can be (no escapes in it).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
            fn visit_string<E: de::Error>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Object {
        #[serde(deserialize_with = "without_managed_fields")]
        metadata: ObjectMeta,
    }

    const POD: &str = r#"{"metadata": {
        "name": "pi-driver", "namespace": "spark",
        "managedFields": [{"manager": "spark-operator", "operation": "Update", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {
                "k:{\"name\":\"spark-kubernetes-driver\"}": {".": {}, "f:image": {}}}}}}],
        "labels": {"spark-role": "driver", "sparkoperator.k8s.io/app-name": "pi"},
        "resourceVersion": "42",
        "annotations": {"a\"quoted\"key": "v"}
    }}"#;

    #[test]
    fn everything_but_the_managed_fields_is_read() {
        let read: Object = serde_json::from_str(POD).unwrap();
        let mut typed: serde_json::Value = serde_json::from_str(POD).unwrap();
        typed["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let expected: ObjectMeta = serde_json::from_value(typed["metadata"].take()).unwrap();
        assert_eq!(read.metadata, expected);
        assert_eq!(read.metadata.managed_fields, None);
        assert_eq!(read.metadata.labels.unwrap()["spark-role"], "driver");
        assert_eq!(read.metadata.annotations.unwrap()["a\"quoted\"key"], "v");
    }

    #[test]
    fn keys_written_with_escapes_and_values_not_from_text_are_read_alike() {
        let escaped =
            r#"{"metadata": {"\u006eame": "x", "managed\u0046ields": [{"manager": "m"}]}}"#;
        let read: Object = serde_json::from_str(escaped).unwrap();
        assert_eq!(read.metadata.name.as_deref(), Some("x"));
        assert_eq!(read.metadata.managed_fields, None);

        let from_value: Object = serde_json::from_value(json!({"metadata": {
            "name": "y", "managedFields": [{"manager": "m"}], "generation": 3,
        }}))
        .unwrap();
        assert_eq!(from_value.metadata.name.as_deref(), Some("y"));
        assert_eq!(from_value.metadata.generation, Some(3));
        assert_eq!(from_value.metadata.managed_fields, None);
    }

    #[test]
    fn metadata_that_is_not_an_object_is_still_an_error() {
        let error = serde_json::from_str::<Object>(r#"{"metadata": 7}"#)
            .err()
            .unwrap();
        assert!(error.to_string().contains("invalid type"), "{error}");
        let error = serde_json::from_str::<Object>(r#"{"metadata": {"labels": 7}}"#)
            .err()
            .unwrap();
        assert!(error.to_string().contains("invalid type"), "{error}");
    }
}
