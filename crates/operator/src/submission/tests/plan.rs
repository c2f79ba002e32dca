//! Determinism, names, errors, and the consistency of the plan's pieces.

use super::fixtures::*;
use crate::config::ControllerConfig;
use crate::submission::{
    SubmissionContext, SubmissionError, plan, pod_template_files, properties, spark_conf,
};

#[test]
fn same_context_same_objects() {
    let app = example("spark-pi-volumes.yaml");
    let first = plan(&app, &context(&app)).unwrap();
    let second = plan(&app, &context(&app)).unwrap();
    assert_eq!(first, second);

    let other = SubmissionContext::with_options(
        &app,
        "attempt-2",
        SUBMIT_TIME_MS,
        MASTER,
        Default::default(),
    );
    let retried = plan(&app, &other).unwrap();
    assert_ne!(first.names.resource_prefix, retried.names.resource_prefix);
    assert_ne!(
        first.driver_config_map.metadata.name,
        retried.driver_config_map.metadata.name
    );
    assert_ne!(
        first.spark_properties["spark.app.id"],
        retried.spark_properties["spark.app.id"]
    );
    // The driver pod is named after the application, so a second attempt cannot run beside the first.
    assert_eq!(
        first.driver_pod.metadata.name,
        retried.driver_pod.metadata.name
    );
}

#[test]
fn identifiers_have_spark_shapes() {
    let app = example("spark-pi.yaml");
    let ctx = context(&app);
    assert_eq!(ctx.unique_id.len(), 16);
    assert!(
        ctx.unique_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let hex = ctx.app_id.strip_prefix("spark-").unwrap();
    assert_eq!(hex.len(), 32);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));

    let from_config = SubmissionContext::with_options(
        &app,
        "attempt-1",
        SUBMIT_TIME_MS,
        MASTER,
        ControllerConfig::default().submission_options(),
    );
    assert_eq!(
        (from_config.unique_id, from_config.app_id),
        (ctx.unique_id.clone(), ctx.app_id.clone())
    );
}

#[test]
fn long_names_fall_back() {
    let mut app = scala_app("");
    let long = "a".repeat(56);
    app.metadata.name = Some(long.clone());
    let ctx = context(&app);
    let plan = plan(&app, &ctx).unwrap();
    let service = plan.driver_service.metadata.name.clone().unwrap();
    assert_eq!(service, format!("spark-{}-driver-svc", ctx.unique_id));
    assert_eq!(
        plan.spark_properties["spark.driver.host"],
        format!("{service}.jobs.svc")
    );
    assert_eq!(
        plan.names.resource_prefix,
        format!("{long}-{}", ctx.unique_id)
    );
    assert_eq!(
        plan.driver_pod.metadata.name.as_deref(),
        Some(format!("{long}-driver").as_str())
    );
    assert_eq!(
        plan.driver_pod.metadata.labels.clone().unwrap()["spark-app-name"],
        long
    );
    let ui = plan.ui_service.unwrap().metadata.name.unwrap();
    assert_eq!(ui, format!("{long}-ui-svc"));
    assert!(ui.len() <= 63);
}

#[test]
fn properties_round_trip_through_the_config_map() {
    let app = scala_app(
        "arguments: ['--path=s3a://bucket/in put', 'a:b']
sparkConf:
  spark.driver.extraJavaOptions: ' -Dkey=value -Dother=x:y'
  spark.custom.unicode: 'Grüße 東京'
  spark.custom.multiline: \"one\\ntwo\"",
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let text = &plan.driver_config_map.data.as_ref().unwrap()["spark.properties"];
    assert!(
        text.contains("spark.driver.extraJavaOptions=\\ -Dkey\\=value -Dother\\=x\\:y\n"),
        "{text}"
    );
    assert_eq!(properties::parse(text).unwrap(), plan.spark_properties);
    let args = container(&plan.driver_pod, "spark-kubernetes-driver")
        .args
        .clone()
        .unwrap();
    assert_eq!(
        args[args.len() - 2..],
        ["--path=s3a://bucket/in put", "a:b"]
    );
}

#[test]
fn properties_extend_what_spark_submit_passes() {
    let app = example("spark-pi-volumes.yaml");
    let ctx = context(&app);
    let conf = spark_conf(&app, &ctx).unwrap();
    let plan = plan(&app, &ctx).unwrap();
    for (key, value) in &conf {
        if key != "spark.kubernetes.executor.podTemplateFile" {
            assert_eq!(plan.spark_properties.get(key), Some(value), "{key}");
        }
    }
}

#[test]
fn template_files_for_spark_submit() {
    let app = scala_app(
        "driver:\n  tolerations:\n  - key: gpu\n    operator: Exists\nexecutor:\n  hostNetwork: true",
    );
    let ctx = context(&app);
    let files = pod_template_files(&app, &ctx).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/tmp/spark/attempt-1/driver-pod-template.yaml",
            "/tmp/spark/attempt-1/executor-pod-template.yaml"
        ]
    );
    let driver: k8s_openapi::api::core::v1::Pod = serde_json::from_str(&files[0].contents).unwrap();
    let as_yaml: k8s_openapi::api::core::v1::Pod =
        serde_yaml::from_str(&files[0].contents).unwrap();
    assert_eq!(
        driver, as_yaml,
        "the template file is JSON, and YAML as well"
    );
    assert_eq!(
        driver.spec.as_ref().unwrap().tolerations.as_ref().unwrap()[0]
            .key
            .as_deref(),
        Some("gpu")
    );
    let owner = &driver.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.controller, Some(true));
    let executor: k8s_openapi::api::core::v1::Pod =
        serde_json::from_str(&files[1].contents).unwrap();
    assert_eq!(executor.spec.as_ref().unwrap().host_network, Some(true));
    let plan = plan(&app, &ctx).unwrap();
    assert_eq!(
        executor,
        executor_template(&plan),
        "both submissions use the same executor template"
    );
}

#[test]
fn master_urls_are_normalised() {
    let app = scala_app("");
    for (given, expected) in [
        ("https://10.0.0.1:6443", "k8s://https://10.0.0.1:6443"),
        ("k8s://https://10.0.0.1:6443", "k8s://https://10.0.0.1:6443"),
        ("10.0.0.1:6443", "k8s://https://10.0.0.1:6443"),
        ("http://127.0.0.1:8080", "k8s://http://127.0.0.1:8080"),
    ] {
        let ctx = SubmissionContext::with_options(&app, "a", 0, given, Default::default());
        assert_eq!(
            spark_conf(&app, &ctx).unwrap()["spark.master"],
            expected,
            "{given}"
        );
    }
    let bad = SubmissionContext::with_options(&app, "a", 0, "ftp://host", Default::default());
    assert!(matches!(
        plan(&app, &bad),
        Err(SubmissionError::InvalidMasterUrl(_))
    ));
}

#[test]
fn errors_name_the_problem() {
    let mut no_uid = scala_app("");
    no_uid.metadata.uid = None;
    assert_eq!(
        plan(&no_uid, &context(&no_uid)).unwrap_err(),
        SubmissionError::MissingUid
    );

    let client = scala_app("mode: client");
    assert_eq!(
        plan(&client, &context(&client)).unwrap_err(),
        SubmissionError::ClientMode
    );

    let mut no_class = scala_app("");
    no_class.spec.main_class = None;
    assert_eq!(
        plan(&no_class, &context(&no_class)).unwrap_err(),
        SubmissionError::MissingMainClass
    );

    let mut no_image = scala_app("");
    no_image.spec.image = None;
    assert_eq!(
        plan(&no_image, &context(&no_image)).unwrap_err(),
        SubmissionError::MissingImage
    );

    let bad_memory = scala_app("driver:\n  memory: 1.5g");
    let error = plan(&bad_memory, &context(&bad_memory)).unwrap_err();
    assert!(error.to_string().contains("spark.driver.memory"), "{error}");

    let bind = scala_app("sparkConf:\n  spark.driver.bindAddress: 0.0.0.0");
    assert!(matches!(
        plan(&bind, &context(&bind)),
        Err(SubmissionError::InvalidConf { .. })
    ));

    let missing_volume =
        scala_app("driver:\n  volumeMounts:\n  - name: spark-local-dir-x\n    mountPath: /x");
    assert_eq!(
        plan(&missing_volume, &context(&missing_volume)).unwrap_err(),
        SubmissionError::VolumeNotFound("spark-local-dir-x".into())
    );
}

#[test]
fn ui_objects_on_their_own_match_the_plan() {
    let app = scala_app("");
    let options = crate::submission::SubmissionOptions {
        ingress_url_format: Some("{{$appName}}.ui.example.com".into()),
        ..Default::default()
    };
    let ctx = context_with(&app, options);
    let plan = plan(&app, &ctx).unwrap();
    assert_eq!(
        Some(crate::submission::ui_service(&app, &ctx).unwrap()),
        plan.ui_service
    );
    let ingress = crate::submission::ui_ingress(&app, &ctx).unwrap();
    assert_eq!(ingress, plan.ui_ingress);
    let rule = &ingress.unwrap().spec.unwrap().rules.unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("app.ui.example.com"));
    assert!(
        rule.http.as_ref().unwrap().paths[0].path.is_none(),
        "no path, no rewrite"
    );
    assert!(!plan.spark_properties.contains_key("spark.ui.proxyBase"));
}
