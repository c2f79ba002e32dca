//! The project's own CRDs (`deploy/crds/`: large generated schemas, field for field the API of
//! Kubeflow's Spark operator) through validation, pruning and defaulting.

use serde_json::{Value, json};

use super::StructuralSchema;

fn crd_schema(file: &str) -> StructuralSchema {
    let path = format!("{}/../../deploy/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
    StructuralSchema::new(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
}

fn spark_applications() -> StructuralSchema {
    crd_schema("sparkoperator.k8s.io_sparkapplications.yaml")
}

fn spark_pi() -> Value {
    json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": "spark-pi", "namespace": "default"},
        "spec": {
            "type": "Scala", "mode": "cluster", "image": "spark:3.5.3",
            "mainClass": "org.apache.spark.examples.SparkPi",
            "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
            "arguments": ["5000"], "sparkVersion": "3.5.3",
            "sparkConf": {"spark.ui.port": "4045"},
            "restartPolicy": {"type": "OnFailure", "onFailureRetries": 3},
            "driver": {
                "cores": 1, "coreLimit": "1200m", "memory": "512m", "serviceAccount": "spark-operator-spark",
                "labels": {"version": "3.5.3"},
                "env": [{"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}],
                "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}],
                "template": {"spec": {"priorityClassName": "high", "anything": {"goes": 1}}}
            },
            "executor": {"cores": 1, "instances": 2, "memory": "512m",
                         "sidecars": [{"name": "log", "image": "busybox", "ports": [{"containerPort": 80}]}]},
            "volumes": [{"name": "conf", "configMap": {"name": "spark-conf"}}]
        },
        "status": {"applicationState": {"state": "RUNNING"}, "driverInfo": {}, "lastSubmissionAttemptTime": null,
                   "terminationTime": "2024-05-01T10:00:00Z"}
    })
}

#[test]
fn the_schemas_load() {
    for file in [
        "sparkoperator.k8s.io_sparkapplications.yaml",
        "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
        "sparkoperator.k8s.io_sparkconnects.yaml",
    ] {
        let schema = crd_schema(file);
        assert_eq!(schema.schema["type"], "object", "{file}");
        // An empty object is missing its required spec, whatever the kind.
        let found =
            schema.validate(&json!({"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "X"}));
        assert!(
            found
                .iter()
                .any(|e| e.field == "spec" && e.message == "Required value"),
            "{file}: {found:?}"
        );
    }
}

#[test]
fn a_valid_spark_application_passes() {
    let schema = spark_applications();
    let mut app = spark_pi();
    assert_eq!(schema.validate(&app), vec![]);
    assert_eq!(
        schema.prune_reporting(&mut app),
        Vec::<String>::new(),
        "nothing unknown in a valid object"
    );
}

#[test]
fn invalid_fields_are_reported_with_kubernetes_paths_and_messages() {
    let schema = spark_applications();
    let mut app = spark_pi();
    app["spec"]["driver"]["cores"] = json!("string");
    app["spec"]["type"] = json!("Java2");
    app["spec"]["executor"]["instances"] = json!(1.5);
    app["spec"]["volumes"][0]["name"] = json!(7);
    app["spec"]["driver"]["memory"] = json!(512);
    app["status"]["terminationTime"] = json!("not a time");
    app["spec"].as_object_mut().unwrap().remove("sparkVersion");
    let messages: Vec<String> = schema
        .validate(&app)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        vec![
            "spec.driver.cores: Invalid value: \"string\": spec.driver.cores in body must be of type integer: \"string\"",
            "spec.driver.memory: Invalid value: \"integer\": spec.driver.memory in body must be of type string: \"integer\"",
            "spec.executor.instances: Invalid value: \"number\": spec.executor.instances in body must be of type integer: \"number\"",
            "spec.type: Unsupported value: \"Java2\": supported values: \"Java\", \"Scala\", \"Python\", \"R\"",
            "spec.volumes[0].name: Invalid value: \"integer\": spec.volumes[0].name in body must be of type string: \"integer\"",
            "spec.sparkVersion: Required value",
            "status.terminationTime: Invalid value: \"not a time\": status.terminationTime in body must be of type date-time: \"not a time\"",
        ]
    );
}

#[test]
fn bounds_and_nested_requirements() {
    let schema = spark_applications();
    let mut app = spark_pi();
    // `format: int32` bounds an integer, as the API server checks it.
    app["spec"]["driver"]["cores"] = json!(2_147_483_648_i64);
    app["spec"]["executor"]["sidecars"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    app["spec"]["driver"]["env"][0]["valueFrom"]["secretKeyRef"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    let messages: Vec<String> = schema
        .validate(&app)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        vec![
            "spec.driver.cores: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.driver.cores",
            "spec.driver.env[0].valueFrom.secretKeyRef.key: Required value",
            "spec.executor.sidecars[0].name: Required value",
        ]
    );
}

#[test]
fn pruning_keeps_templates_and_drops_unknown_fields() {
    let schema = spark_applications();
    let mut app = spark_pi();
    app["spec"]["unknownTopLevel"] = json!(true);
    app["spec"]["driver"]["notAField"] = json!("x");
    app["spec"]["executor"]["sidecars"][0]["bogus"] = json!(1);
    let removed = schema.prune_reporting(&mut app);
    assert_eq!(
        removed,
        vec![
            "spec.driver.notAField",
            "spec.executor.sidecars[0].bogus",
            "spec.unknownTopLevel"
        ]
    );
    assert_eq!(app, spark_pi());
    assert_eq!(
        app["spec"]["driver"]["template"]["spec"]["anything"],
        json!({"goes": 1}),
        "preserved"
    );
}

#[test]
fn defaults_come_from_the_crd() {
    let schema = spark_applications();
    let mut app = spark_pi();
    app["spec"].as_object_mut().unwrap().remove("executor");
    app["status"] = json!({"applicationState": {}, "lastSubmissionAttemptTime": null});
    schema.apply_defaults(&mut app);
    // The CRD's defaults: an absent `executor` or `driverInfo` is `{}`, and a state without its
    // `state` gets `""`, inside an object that was there.
    assert_eq!(app["spec"]["executor"], json!({}));
    assert_eq!(app["status"]["applicationState"], json!({"state": ""}));
    assert_eq!(app["status"]["driverInfo"], json!({}));
    assert_eq!(
        app["status"]["lastSubmissionAttemptTime"],
        Value::Null,
        "nullable nulls stay"
    );
    assert!(
        app["spec"].get("driverIngressOptions").is_none(),
        "absent objects are not created"
    );
    assert_eq!(
        app["spec"]["driver"],
        spark_pi()["spec"]["driver"],
        "what is there is kept"
    );
    assert_eq!(schema.validate(&app), vec![]);
}
