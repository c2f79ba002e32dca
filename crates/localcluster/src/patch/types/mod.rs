//! What the patch algorithms need to know about an object's fields: which lists merge by key
//! (and which key), which are sets, which maps and structs are atomic. Built-in kinds are
//! described by static tables (`builtin`); custom resources by their CRD's openAPIV3Schema.

mod builtin;

use serde_json::Value;

pub(crate) use builtin::{builtin_root, is_builtin_group};

/// How a strategic merge patch treats a field (Go struct tags `patchStrategy`/`patchMergeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Smp {
    /// Lists are replaced, objects merged.
    Default,
    /// A list of objects merged item by item on this key.
    MergeKey(&'static str),
    /// A list of scalars merged as a set (union).
    MergePrimitives,
}

/// How server-side apply treats a list (`x-kubernetes-list-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ssa {
    /// Follow the strategic merge strategy: merge keys become map keys, merged scalars a set.
    FromSmp,
    Atomic,
    Set,
    Map(&'static [KeyDef]),
}

/// One key field of an associative list, with the default it gets when omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyDef {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// Named fields; unknown fields are untyped.
    Struct,
    /// Replaced as a whole (`x-kubernetes-map-type: atomic`, `+structType=atomic`).
    Atomic,
    /// A string-keyed map whose values have the given type.
    Map(Option<&'static TypeDef>),
}

#[derive(Debug)]
pub(crate) struct TypeDef {
    pub shape: Shape,
    pub fields: &'static [Field],
}

#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    /// The field's type, or its items' type for a list.
    pub ty: Option<&'static TypeDef>,
    pub is_list: bool,
    pub smp: Smp,
    pub ssa: Ssa,
}

/// How a list's items are identified by server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListKind {
    Atomic,
    Set,
    /// Key field names with their defaults.
    Map(Vec<(String, Option<Value>)>),
}

/// How an object value is tracked by server-side apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    /// Declared fields: the fields themselves are not set members.
    Struct,
    /// Keys are members in their own right.
    Map,
    Atomic,
}

/// The type of one value of an object being patched.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty<'s> {
    /// Nothing known, inside a built-in kind: objects behave as structs, lists as atomic.
    Untyped,
    /// Nothing known, as schema-less data (preserve-unknown-fields): objects behave as maps.
    Deduced,
    Static(&'static TypeDef),
    StaticList(&'static Field),
    /// A node of a CRD's openAPIV3Schema.
    Schema(&'s Value),
    /// The root of a custom resource: `metadata` is an ObjectMeta whatever the schema says.
    CrdRoot(&'s Value),
}

/// Where the type information of a kind comes from.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo<'s> {
    pub group: &'s str,
    pub kind: &'s str,
    /// The `openAPIV3Schema` of the served version, for custom resources.
    pub crd_schema: Option<&'s Value>,
}

impl<'s> TypeInfo<'s> {
    pub(crate) fn root(&self) -> Ty<'s> {
        match self.crd_schema {
            Some(schema) => Ty::CrdRoot(schema),
            None if is_builtin_group(self.group) => Ty::Static(builtin_root(self.group, self.kind)),
            None => Ty::CrdRoot(&Value::Null),
        }
    }
}

fn schema_is_true(schema: &Value, extension: &str) -> bool {
    schema
        .get(extension)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

impl<'s> Ty<'s> {
    fn static_field(def: &'static TypeDef, key: &str) -> Option<&'static Field> {
        def.fields
            .iter()
            .find(|field| field.name == key)
            .or_else(|| builtin::root_field(key))
    }

    /// The type of `key` in an object of this type.
    pub(crate) fn child(self, key: &str) -> Ty<'s> {
        match self {
            Ty::Untyped | Ty::StaticList(_) => Ty::Untyped,
            Ty::Deduced => Ty::Deduced,
            Ty::Static(def) => match (Self::static_field(def, key), def.shape) {
                (Some(field), _) if field.is_list => Ty::StaticList(field),
                (Some(Field { ty: Some(ty), .. }), _) => Ty::Static(ty),
                (_, Shape::Map(Some(values))) => Ty::Static(values),
                _ => Ty::Untyped,
            },
            Ty::CrdRoot(_) if key == "metadata" => Ty::Static(builtin::object_meta()),
            Ty::CrdRoot(schema) if schema.is_null() => Ty::Deduced,
            Ty::Schema(schema) | Ty::CrdRoot(schema) => {
                if let Some(property) = schema.get("properties").and_then(|p| p.get(key)) {
                    return Ty::Schema(property);
                }
                if key == "metadata" && schema_is_true(schema, "x-kubernetes-embedded-resource") {
                    return Ty::Static(builtin::object_meta());
                }
                match schema.get("additionalProperties") {
                    Some(values @ Value::Object(_)) => Ty::Schema(values),
                    _ => Ty::Deduced,
                }
            }
        }
    }

    /// Whether `key` is a declared field (as opposed to a map key or an unknown field).
    pub(crate) fn is_named_field(self, key: &str) -> bool {
        match self {
            Ty::Untyped => true,
            Ty::Deduced | Ty::StaticList(_) => false,
            Ty::Static(def) => {
                matches!(def.shape, Shape::Struct)
                    || def.fields.iter().any(|field| field.name == key)
            }
            Ty::CrdRoot(schema) if schema.is_null() => {
                matches!(key, "metadata" | "apiVersion" | "kind")
            }
            Ty::Schema(schema) | Ty::CrdRoot(schema) => {
                schema.get("properties").and_then(|p| p.get(key)).is_some()
                    || (schema_is_true(schema, "x-kubernetes-embedded-resource")
                        && matches!(key, "metadata" | "apiVersion" | "kind"))
                    || matches!(self, Ty::CrdRoot(_)) && key == "metadata"
            }
        }
    }

    pub(crate) fn object_kind(self) -> ObjectKind {
        match self {
            Ty::Untyped => ObjectKind::Struct,
            Ty::Deduced | Ty::StaticList(_) => ObjectKind::Map,
            Ty::Static(def) => match def.shape {
                Shape::Struct => ObjectKind::Struct,
                Shape::Atomic => ObjectKind::Atomic,
                Shape::Map(_) => ObjectKind::Map,
            },
            Ty::CrdRoot(schema) if schema.is_null() => ObjectKind::Map,
            Ty::Schema(schema) | Ty::CrdRoot(schema) => {
                if schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") {
                    ObjectKind::Atomic
                } else if schema.get("properties").is_some() || matches!(self, Ty::CrdRoot(_)) {
                    ObjectKind::Struct
                } else {
                    ObjectKind::Map
                }
            }
        }
    }

    /// The type of the items of a list of this type.
    pub(crate) fn items(self) -> Ty<'s> {
        match self {
            Ty::StaticList(Field { ty: Some(ty), .. }) => Ty::Static(ty),
            Ty::Schema(schema) => schema.get("items").map_or(Ty::Deduced, Ty::Schema),
            Ty::Deduced => Ty::Deduced,
            _ => Ty::Untyped,
        }
    }

    pub(crate) fn list_kind(self) -> ListKind {
        let static_keys = |keys: &[KeyDef]| {
            ListKind::Map(
                keys.iter()
                    .map(|k| {
                        (
                            k.name.to_string(),
                            k.default.map(|d| Value::String(d.into())),
                        )
                    })
                    .collect(),
            )
        };
        match self {
            Ty::StaticList(field) => match (field.ssa, field.smp) {
                (Ssa::Atomic, _) | (Ssa::FromSmp, Smp::Default) => ListKind::Atomic,
                (Ssa::Set, _) | (Ssa::FromSmp, Smp::MergePrimitives) => ListKind::Set,
                (Ssa::Map(keys), _) => static_keys(keys),
                (Ssa::FromSmp, Smp::MergeKey(key)) => ListKind::Map(vec![(key.to_string(), None)]),
            },
            Ty::Schema(schema) => {
                match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => {
                        let names = schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array);
                        let item_properties = schema.pointer("/items/properties");
                        ListKind::Map(
                            names
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .map(|name| {
                                    let default = item_properties
                                        .and_then(|p| p.get(name))
                                        .and_then(|p| p.get("default"))
                                        .cloned();
                                    (name.to_string(), default)
                                })
                                .collect(),
                        )
                    }
                    _ => ListKind::Atomic,
                }
            }
            _ => ListKind::Atomic,
        }
    }

    /// The strategic-merge-patch strategy of a list of this type.
    pub(crate) fn smp(self) -> Smp {
        match self {
            Ty::StaticList(field) => field.smp,
            _ => Smp::Default,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn builtin_pod_containers_merge_by_name() {
        let info = TypeInfo {
            group: "",
            kind: "Pod",
            crd_schema: None,
        };
        let containers = info.root().child("spec").child("containers");
        assert_eq!(containers.smp(), Smp::MergeKey("name"));
        assert_eq!(
            containers.list_kind(),
            ListKind::Map(vec![("name".into(), None)])
        );
        let ports = containers.items().child("ports");
        assert_eq!(ports.smp(), Smp::MergeKey("containerPort"));
        assert_eq!(
            ports.list_kind(),
            ListKind::Map(vec![
                ("containerPort".into(), None),
                ("protocol".into(), Some(json!("TCP")))
            ])
        );
        assert_eq!(
            containers.items().child("args").list_kind(),
            ListKind::Atomic
        );
        assert_eq!(
            info.root()
                .child("metadata")
                .child("finalizers")
                .list_kind(),
            ListKind::Set
        );
        assert_eq!(
            info.root().child("metadata").child("labels").object_kind(),
            ObjectKind::Map
        );
        assert_eq!(
            info.root()
                .child("spec")
                .child("securityContext")
                .object_kind(),
            ObjectKind::Struct
        );
    }

    #[test]
    fn workloads_embed_pod_templates() {
        let info = TypeInfo {
            group: "apps",
            kind: "Deployment",
            crd_schema: None,
        };
        let spec = info.root().child("spec");
        assert_eq!(spec.child("selector").object_kind(), ObjectKind::Atomic);
        let env = spec
            .child("template")
            .child("spec")
            .child("containers")
            .items()
            .child("env");
        assert_eq!(env.smp(), Smp::MergeKey("name"));
        let cron = TypeInfo {
            group: "batch",
            kind: "CronJob",
            crd_schema: None,
        };
        let volumes = cron
            .root()
            .child("spec")
            .child("jobTemplate")
            .child("spec")
            .child("template");
        assert_eq!(
            volumes.child("spec").child("volumes").smp(),
            Smp::MergeKey("name")
        );
    }

    #[test]
    fn crd_schema_drives_list_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "properties": {
                                  "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "conf": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ref": {"type": "object", "x-kubernetes-map-type": "atomic",
                            "properties": {"name": {"type": "string"}}}
                }}
            }
        });
        let info = TypeInfo {
            group: "example.com",
            kind: "Thing",
            crd_schema: Some(&schema),
        };
        let spec = info.root().child("spec");
        assert_eq!(
            spec.child("ports").list_kind(),
            ListKind::Map(vec![
                ("port".into(), None),
                ("protocol".into(), Some(json!("TCP")))
            ])
        );
        assert_eq!(spec.child("tags").list_kind(), ListKind::Set);
        assert_eq!(spec.child("args").list_kind(), ListKind::Atomic);
        assert_eq!(spec.child("conf").object_kind(), ObjectKind::Map);
        assert!(!spec.child("conf").is_named_field("x"));
        assert_eq!(spec.child("ref").object_kind(), ObjectKind::Atomic);
        assert!(info.root().is_named_field("spec"));
        assert_eq!(
            info.root().child("metadata").child("labels").object_kind(),
            ObjectKind::Map
        );
    }
}
