//! The rules of Kubeflow's validating webhook, one test each: an application it refuses is
//! refused here too, with the field and the fix (the operator, the webhook and
//! `spark-operator validate` all call these rules).

use super::tests::{paths_after, spark_pi};
use super::*;
use crate::*;

fn messages_after(change: impl FnOnce(&mut SparkApplication)) -> Vec<String> {
    let mut app = spark_pi();
    change(&mut app);
    validate_application(&app)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn spark_conf_keys_the_operator_owns_are_refused() {
    for key in [
        "spark.kubernetes.authenticate.driver.serviceAccountName",
        "spark.kubernetes.authenticate.executor.serviceAccountName",
        "spark.kubernetes.authenticate.oauthToken",
        "spark.kubernetes.authenticate.driver.oauthTokenFile",
        "spark.master",
        "spark.kubernetes.driver.master",
        "spark.kubernetes.container.image",
        "spark.kubernetes.executor.container.image",
    ] {
        let found = messages_after(|app| {
            app.spec.spark_conf.insert(key.into(), "x".into());
        });
        assert_eq!(found.len(), 1, "{key}: {found:?}");
        assert!(
            found[0].starts_with(&format!("spec.sparkConf[{key}]: is not allowed")),
            "{found:?}"
        );
    }
}

#[test]
fn spark_conf_may_name_only_the_applications_namespace() {
    let other = messages_after(|app| {
        app.spec
            .spark_conf
            .insert("spark.kubernetes.namespace".into(), "kube-system".into());
    });
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].contains("not the namespace of the resource (\"default\")"));
    let own = paths_after(|app| {
        app.spec
            .spark_conf
            .insert("spark.kubernetes.namespace".into(), "default".into());
    });
    assert!(own.is_empty(), "{own:?}");
    // A file not yet applied has no namespace: nothing to compare with.
    let mut unapplied = spark_pi();
    unapplied.metadata.namespace = None;
    unapplied
        .spec
        .spark_conf
        .insert("spark.kubernetes.namespace".into(), "team".into());
    assert_eq!(validate_application(&unapplied), vec![]);
}

#[test]
fn a_scheduled_templates_spark_conf_is_checked_against_the_schedules_namespace() {
    let mut scheduled = ScheduledSparkApplication::new(
        "nightly",
        ScheduledSparkApplicationSpec {
            schedule: "@daily".into(),
            template: spark_pi().spec,
            ..Default::default()
        },
    );
    scheduled.metadata.namespace = Some("team".into());
    scheduled
        .spec
        .template
        .spark_conf
        .insert("spark.master".into(), "local[*]".into());
    let paths: Vec<_> = validate_scheduled(&scheduled)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["spec.template.sparkConf[spark.master]"]);
}

#[test]
fn a_node_selector_for_the_application_and_for_a_role_is_refused() {
    let both = paths_after(|app| {
        app.spec.node_selector.insert("disk".into(), "ssd".into());
        app.spec
            .executor
            .pod
            .node_selector
            .insert("zone".into(), "a".into());
    });
    assert_eq!(both, ["spec.executor.nodeSelector"]);
    let per_role = paths_after(|app| {
        app.spec
            .driver
            .pod
            .node_selector
            .insert("zone".into(), "a".into());
        app.spec
            .executor
            .pod
            .node_selector
            .insert("zone".into(), "b".into());
    });
    assert!(per_role.is_empty(), "{per_role:?}");
}

fn ingress(port: i32, format: Option<&str>) -> DriverIngressConfiguration {
    DriverIngressConfiguration {
        service_port: port,
        service_port_name: format!("p{port}"),
        ingress_url_format: format.map(str::to_string),
        ..Default::default()
    }
}

#[test]
fn driver_ingress_options_need_a_url_format_and_their_own_port_and_url() {
    let found = messages_after(|app| {
        app.spec.driver_ingress_options = vec![
            ingress(4040, Some("{{$appName}}.example.com")),
            ingress(4040, Some("{{$appName}}.example.com")),
            ingress(8080, None),
        ];
    });
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("spec.driverIngressOptions[1].servicePort: 4040 is also"));
    assert!(found[1].starts_with("spec.driverIngressOptions[1].ingressURLFormat:"));
    assert!(found[2].starts_with("spec.driverIngressOptions[2].ingressURLFormat: is missing"));
    let distinct = paths_after(|app| {
        app.spec.driver_ingress_options = vec![
            ingress(4040, Some("ui.example.com")),
            ingress(8080, Some("api.example.com")),
        ];
    });
    assert!(distinct.is_empty(), "{distinct:?}");
}

#[test]
fn a_driver_ingress_option_without_a_port_names_the_field() {
    let object = serde_json::json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"type": "Scala", "sparkVersion": "4.0.0",
                 "driverIngressOptions": [{"servicePortName": "ui", "ingressURLFormat": "x"}]}});
    let errors = validate_application_json(&object);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "spec.driverIngressOptions[0].servicePort");
    assert!(errors[0].message.starts_with("is missing"), "{errors:?}");
}

#[test]
fn pod_templates_need_spark_3() {
    let template = || Some(Box::default());
    let old = paths_after(|app| {
        app.spec.spark_version = "2.4.8".into();
        app.spec.executor.pod.template = template();
    });
    assert_eq!(old, ["spec.executor.template"]);
    for version in ["3.0.0", "4.0.1", "v3.5.3"] {
        let new = paths_after(|app| {
            app.spec.spark_version = version.into();
            app.spec.driver.pod.template = template();
        });
        assert!(new.is_empty(), "{version}: {new:?}");
    }
    let no_template = paths_after(|app| app.spec.spark_version = "2.4.8".into());
    assert!(no_template.is_empty(), "{no_template:?}");
}
