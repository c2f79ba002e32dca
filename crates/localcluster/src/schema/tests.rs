//! Validation, pruning and defaulting against small hand-written schemas.

use serde_json::{Value, json};

use super::{FieldError, StructuralSchema};

fn schema() -> StructuralSchema {
    StructuralSchema::new(json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": ["Java", "Scala"]},
                    "mode": {"type": "string", "default": "cluster"},
                    "replicas": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10, "default": 1},
                    "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "multipleOf": 0.5},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                    "memory": {"x-kubernetes-int-or-string": true,
                               "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "startAt": {"type": "string", "format": "date-time"},
                    "endAt": {"type": "string", "format": "date-time", "nullable": true},
                    "args": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                    "volumes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                "items": {"type": "object", "required": ["name"], "properties": {
                                    "name": {"type": "string"},
                                    "readOnly": {"type": "boolean", "default": false}}}},
                    "conf": {"type": "object", "additionalProperties": {"type": "string"}},
                    "driver": {"type": "object", "properties": {
                        "cores": {"type": "integer", "format": "int32"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "port": {"type": "object", "properties": {
                            "protocol": {"type": "string", "default": "TCP"}, "number": {"type": "integer"}}}}},
                    "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                 "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "properties": {"spec": {"type": "object"}}}
                }
            },
            "status": {"type": "object", "properties": {"state": {"type": "string"}}}
        }
    }))
}

fn errors(spec: Value) -> Vec<FieldError> {
    schema().validate(
        &json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec}),
    )
}

fn messages(spec: Value) -> Vec<String> {
    errors(spec).iter().map(ToString::to_string).collect()
}

#[test]
fn valid_objects_have_no_errors() {
    let spec = json!({"type": "Java", "replicas": 3, "ratio": 1.5, "name": "abc", "memory": "1Gi",
                      "startAt": "2024-01-02T03:04:05Z", "endAt": null, "args": ["a"], "volumes": [{"name": "v"}],
                      "conf": {"spark.a": "b"}, "driver": {"cores": 2, "labels": {"x": "y"}},
                      "template": {"anything": [1, {"goes": true}]},
                      "embedded": {"apiVersion": "v1", "kind": "Pod", "spec": {}}});
    assert_eq!(errors(spec), vec![]);
    assert_eq!(
        errors(json!({"type": "Scala", "memory": 1024, "replicas": 2.0})),
        vec![]
    );
}

#[test]
fn type_errors_use_the_api_servers_wording() {
    let found = errors(json!({"type": "Java", "driver": {"cores": "string"}}));
    assert_eq!(
        found,
        vec![FieldError {
            field: "spec.driver.cores".into(),
            message: "Invalid value: \"string\": spec.driver.cores in body must be of type integer: \"string\"".into(),
            reason: "FieldValueTypeInvalid".into(),
        }]
    );
    assert_eq!(
        messages(
            json!({"type": "Java", "replicas": 1.5, "memory": true, "args": "x", "driver": []})
        ),
        vec![
            "spec.args: Invalid value: \"string\": spec.args in body must be of type array: \"string\"",
            "spec.driver: Invalid value: \"array\": spec.driver in body must be of type object: \"array\"",
            "spec.memory: Invalid value: \"boolean\": spec.memory in body must be of type integer,string: \"boolean\"",
            "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"",
        ]
    );
    assert_eq!(
        messages(json!({"type": "Java", "startAt": null})),
        vec![
            "spec.startAt: Invalid value: \"null\": spec.startAt in body must be of type string: \"null\""
        ]
    );
}

#[test]
fn required_and_enum() {
    assert_eq!(messages(json!({})), vec!["spec.type: Required value"]);
    assert_eq!(errors(json!({}))[0].reason, "FieldValueRequired");
    let root = schema().validate(&json!({"apiVersion": "x/v1", "kind": "X"}));
    assert_eq!(
        root.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["spec: Required value"]
    );
    let found = errors(json!({"type": "Go"}));
    assert_eq!(
        found[0].to_string(),
        "spec.type: Unsupported value: \"Go\": supported values: \"Java\", \"Scala\""
    );
    assert_eq!(found[0].reason, "FieldValueNotSupported");
    assert_eq!(
        messages(json!({"type": "Java", "volumes": [{"readOnly": true}]})),
        vec!["spec.volumes[0].name: Required value"]
    );
}

#[test]
fn numeric_bounds_and_formats() {
    assert_eq!(
        messages(json!({"type": "Java", "replicas": 0, "ratio": 0})),
        vec![
            "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
        ]
    );
    assert_eq!(
        messages(json!({"type": "Java", "replicas": 11, "ratio": 0.7})),
        vec![
            "spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5",
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        ]
    );
    let found = messages(json!({"type": "Java", "driver": {"cores": 3_000_000_000_i64}}));
    assert_eq!(
        found,
        vec![
            "spec.driver.cores: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.driver.cores"
        ]
    );
    assert_eq!(
        messages(json!({"type": "Java", "startAt": "tomorrow"})),
        vec![
            "spec.startAt: Invalid value: \"tomorrow\": spec.startAt in body must be of type date-time: \"tomorrow\""
        ]
    );
}

#[test]
fn string_and_list_bounds() {
    assert_eq!(
        messages(json!({"type": "Java", "name": "toolong"})),
        vec!["spec.name: Too long: may not be more than 5 bytes"]
    );
    assert_eq!(
        messages(json!({"type": "Java", "name": "a"})),
        vec!["spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"]
    );
    assert_eq!(
        messages(json!({"type": "Java", "name": "AB"})),
        vec!["spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"]
    );
    assert_eq!(
        messages(json!({"type": "Java", "args": []})),
        vec!["spec.args: Invalid value: 0: spec.args in body should have at least 1 items"]
    );
    let too_many = errors(json!({"type": "Java", "args": ["a", "b", "c"]}));
    assert_eq!(
        too_many[0].to_string(),
        "spec.args: Too many: 3: must have at most 2 items"
    );
    assert_eq!(too_many[0].reason, "FieldValueTooMany");
    assert_eq!(
        messages(json!({"type": "Java", "args": [1]})),
        vec![
            "spec.args[0]: Invalid value: \"integer\": spec.args[0] in body must be of type string: \"integer\""
        ]
    );
    assert_eq!(
        messages(json!({"type": "Java", "volumes": [{"name": "a"}, {"name": "a"}]})),
        vec!["spec.volumes[1]: Duplicate value: [\"a\"]"]
    );
}

#[test]
fn maps_and_embedded_resources() {
    assert_eq!(
        messages(
            json!({"type": "Java", "conf": {"spark.a": 1}, "driver": {"labels": {"x": false}}})
        ),
        vec![
            "spec.conf.spark.a: Invalid value: \"integer\": spec.conf.spark.a in body must be of type string: \"integer\"",
            "spec.driver.labels.x: Invalid value: \"boolean\": spec.driver.labels.x in body must be of type string: \"boolean\"",
        ]
    );
    assert_eq!(
        messages(json!({"type": "Java", "embedded": {"kind": ""}})),
        vec![
            "spec.embedded.apiVersion: Required value: must not be empty",
            "spec.embedded.kind: Invalid value: \"\": must not be empty",
        ]
    );
}

#[test]
fn every_error_is_reported() {
    let found = errors(json!({"replicas": "x", "name": "A", "args": [], "volumes": [{}]}));
    assert_eq!(found.len(), 5, "{found:#?}");
}

#[test]
fn pruning_drops_undeclared_fields() {
    let mut object = json!({
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"k": "v"}},
        "unknown": 1,
        "spec": {"type": "Java", "bogus": true, "conf": {"any.key": "kept"},
                 "driver": {"cores": 1, "extra": "x", "port": {"number": 1, "junk": 0}},
                 "volumes": [{"name": "v", "junk": 1}],
                 "template": {"free": {"form": 1}, "known": {"a": "x", "b": "dropped"}},
                 "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "other": 1}},
        "status": {"state": "RUNNING", "extra": 1}
    });
    let removed = schema().prune_reporting(&mut object);
    assert_eq!(
        removed,
        vec![
            "spec.bogus",
            "spec.driver.extra",
            "spec.driver.port.junk",
            "spec.embedded.other",
            "spec.template.known.b",
            "spec.volumes[0].junk",
            "status.extra",
            "unknown",
        ]
    );
    assert_eq!(
        object,
        json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"k": "v"}},
            "spec": {"type": "Java", "conf": {"any.key": "kept"}, "driver": {"cores": 1, "port": {"number": 1}},
                     "volumes": [{"name": "v"}], "template": {"free": {"form": 1}, "known": {"a": "x"}},
                     "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}},
            "status": {"state": "RUNNING"}
        })
    );
}

#[test]
fn defaults_fill_existing_objects_only() {
    let mut object = json!({"spec": {"type": "Java", "volumes": [{"name": "v"}, {"name": "w", "readOnly": true}],
                                     "driver": {"port": {}}, "mode": null}});
    schema().apply_defaults(&mut object);
    assert_eq!(
        object,
        json!({"spec": {"type": "Java", "mode": "cluster", "replicas": 1,
                        "volumes": [{"name": "v", "readOnly": false}, {"name": "w", "readOnly": true}],
                        "driver": {"port": {"protocol": "TCP"}}}})
    );
    let mut bare = json!({});
    schema().apply_defaults(&mut bare);
    assert_eq!(
        bare,
        json!({}),
        "no spec, so nothing inside it is defaulted"
    );
}

#[test]
fn nulls_are_dropped_unless_nullable_or_defaulted() {
    let mut object = json!({"spec": {"type": "Java", "name": null, "endAt": null, "replicas": null, "args": [null]}});
    schema().apply_defaults(&mut object);
    assert_eq!(
        object,
        json!({"spec": {"type": "Java", "endAt": null, "replicas": 1, "mode": "cluster", "args": [null]}})
    );
}
