//! Services: Spark's headless driver Service, through which executors reach the driver, and
//! Kubeflow's Spark UI Service and extra driver Services (`driverIngressOptions`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use spark_operator_api::DriverIngressConfiguration;

use super::names::{
    LABEL_APP_NAME, LABEL_CREATED_BY, LABEL_SPARK_APP_SELECTOR, LABEL_SPARK_ROLE, ROLE_DRIVER,
    kubeflow_generated_name,
};
use super::settings::Settings;
use super::spec::Prepared;
use super::{SubmissionContext, SubmissionError, SubmissionNames};

/// Kubeflow's default name of the UI Service port.
pub const UI_PORT_NAME: &str = "spark-driver-ui-port";
const DEFAULT_UI_PORT: i32 = 4040;

/// The headless Service Spark creates for the driver: selector = the driver's labels, ports for
/// the RPC endpoint, the block manager and the UI.
pub fn driver_service(
    prepared: &Prepared,
    settings: Settings,
    ctx: &SubmissionContext,
    names: &SubmissionNames,
    driver_labels: &BTreeMap<String, String>,
) -> Result<Service, SubmissionError> {
    let mut labels = prepared.resource_labels(ctx);
    labels.insert(LABEL_SPARK_APP_SELECTOR.into(), ctx.app_id.clone());
    labels.extend(settings.prefixed("spark.kubernetes.driver.service.label."));
    let annotations = settings.prefixed("spark.kubernetes.driver.service.annotation.");
    let port = |name: &str, number: i32| ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        ..Default::default()
    };
    let families = settings
        .get("spark.kubernetes.driver.service.ipFamilies")
        .unwrap_or("IPv4");
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(names.driver_service.clone()),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            ip_family_policy: Some(
                settings
                    .get("spark.kubernetes.driver.service.ipFamilyPolicy")
                    .unwrap_or("SingleStack")
                    .into(),
            ),
            ip_families: Some(families.split(',').map(str::to_string).collect()),
            selector: Some(driver_labels.clone()),
            ports: Some(vec![
                port("driver-rpc-port", settings.int("spark.driver.port", 7078)?),
                port(
                    "blockmanager",
                    settings.int("spark.driver.blockManager.port", 7079)?,
                ),
                port("spark-ui", settings.int("spark.ui.port", DEFAULT_UI_PORT)?),
            ]),
            ..Default::default()
        }),
        status: None,
    })
}

/// The name of Kubeflow's UI Service, `<app>-ui-svc`.
pub fn ui_service_name(app_name: &str) -> String {
    kubeflow_generated_name(app_name, "ui-svc")
}

/// Kubeflow's Service in front of the Spark UI (`sparkUIOptions`): port 4040 unless set, the
/// target being `spark.ui.port` of the user's sparkConf, type ClusterIP unless set.
pub fn ui_service(prepared: &Prepared, ctx: &SubmissionContext) -> Service {
    let options = prepared.spec.spark_ui_options.as_ref();
    let target = prepared
        .spec
        .spark_conf
        .get("spark.ui.port")
        .and_then(|port| port.trim().parse::<i32>().ok())
        .unwrap_or(DEFAULT_UI_PORT);
    let port = match options {
        None => target,
        Some(options) => options.service_port.unwrap_or(DEFAULT_UI_PORT),
    };
    let port_name = options
        .and_then(|o| o.service_port_name.clone())
        .unwrap_or_else(|| UI_PORT_NAME.into());
    let service_type = options.and_then(|o| o.service_type.clone());
    let labels = options
        .map(|o| o.service_labels.clone())
        .unwrap_or_default();
    let annotations = options
        .map(|o| o.service_annotations.clone())
        .unwrap_or_default();
    driver_facing_service(
        prepared,
        ctx,
        ui_service_name(&prepared.name),
        (port_name, port, target),
        service_type,
        labels,
        annotations,
    )
}

/// The name of the Service of one `driverIngressOptions` entry: `<app>-driver-<port>`.
pub fn driver_ingress_service_name(app_name: &str, port: i32) -> String {
    format!("{app_name}-driver-{port}")
}

/// The Service of one `driverIngressOptions` entry.
pub fn driver_ingress_service(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    options: &DriverIngressConfiguration,
) -> Service {
    let port = options.service_port;
    let port_name = if options.service_port_name.is_empty() {
        format!("driver-ing-{port}")
    } else {
        options.service_port_name.clone()
    };
    driver_facing_service(
        prepared,
        ctx,
        driver_ingress_service_name(&prepared.name, port),
        (port_name, port, port),
        options.service_type.clone(),
        options.service_labels.clone(),
        options.service_annotations.clone(),
    )
}

fn driver_facing_service(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    name: String,
    (port_name, port, target): (String, i32, i32),
    service_type: Option<String>,
    user_labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Service {
    let mut labels = prepared.resource_labels(ctx);
    labels.extend(user_labels);
    labels.insert(LABEL_CREATED_BY.into(), "true".into());
    Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some(port_name),
                port,
                target_port: Some(IntOrString::Int(target)),
                ..Default::default()
            }]),
            selector: Some(BTreeMap::from([
                (LABEL_APP_NAME.to_string(), prepared.name.clone()),
                (LABEL_SPARK_ROLE.to_string(), ROLE_DRIVER.to_string()),
            ])),
            type_: Some(
                service_type
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "ClusterIP".into()),
            ),
            ..Default::default()
        }),
        status: None,
    }
}
