//! Carrying out a submission attempt against the API server: creating the objects the pure
//! `submission` plan describes (natively), or running Spark's own `spark-submit` when the operator
//! or the application chooses it. Either way the operator adds the Spark UI Service and
//! Ingresses. Every object is created idempotently (`objects`), so an attempt repeated after a
//! crash resumes instead of starting a second driver.

pub mod objects;
pub mod operator_defaults;
pub mod spark_submit;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use kube::{Client, ResourceExt};
use spark_operator_api::SparkApplication;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::config::{ControllerConfig, SubmitterKind};
use crate::error::{Error, Result};
use crate::lifecycle::{Submitted, WebUi};
use crate::shapes::{Slim, WithSpec};
use crate::submission::{self, SubmissionContext, SubmissionPlan};
use objects::{create_if_absent, create_or_adopt};
use spark_submit::SparkSubmitter;

/// Creates the objects of submission attempts, for the controller's reconciles.
pub struct Submitter {
    client: Client,
    config: ControllerConfig,
    /// `spark.master` of the drivers.
    master_url: String,
    /// Runs `spark-submit` for applications submitted that way; set up on first use, so that an
    /// operator that never needs Spark installed does not look for it.
    spark_submitter: OnceCell<std::result::Result<SparkSubmitter, spark_submit::SparkSubmitError>>,
    /// Cancelled when the controller begins to stop: spark-submit runs that have not started by
    /// then are left to the next operator instead of holding up the stop.
    stopping: CancellationToken,
}

impl Submitter {
    pub fn new(
        client: Client,
        config: ControllerConfig,
        master_url: String,
        stopping: CancellationToken,
    ) -> Self {
        Self {
            client,
            config,
            master_url,
            spark_submitter: OnceCell::new(),
            stopping,
        }
    }

    /// Creates the objects of attempt `submission_id`: the ConfigMaps and Services at once, then
    /// the driver pod, so that it starts with everything it mounts already there.
    pub async fn submit(
        &self,
        app: &SparkApplication,
        submission_id: &str,
        now: jiff::Timestamp,
    ) -> Result<Submitted> {
        let app = &*operator_defaults::with_operator_defaults(app, &self.config);
        let kind = SubmitterKind::of(app, self.config.submitter)?;
        let attempt = SubmissionContext::with_options(
            app,
            submission_id,
            now.as_millisecond(),
            &self.master_url,
            self.config.submission_options(),
        );
        let plan = submission::plan(app, &attempt)?;
        let namespace = app.namespace().unwrap_or_default();
        let client = &self.client;
        let mut web_ui = WebUi::default();
        create_scheduling_objects(client, &namespace, &plan).await?;
        if kind == SubmitterKind::SparkSubmit {
            // spark-submit makes the driver, its ConfigMaps and headless Service; the monitoring
            // ConfigMap, the UI Service and the Ingresses are the operator's, as in Kubeflow.
            for config_map in plan.prometheus_config_map.iter() {
                create_config_map(client, &namespace, config_map, submission_id).await?;
            }
            let (driver_pod_name, app_id) = spark_submit::submit(self, app, &attempt).await?;
            let operator_services = plan.ui_service.iter().chain(&plan.driver_ingress_services);
            create_services(
                client,
                &namespace,
                operator_services,
                &plan,
                submission_id,
                &mut web_ui,
            )
            .await?;
            create_ingresses(client, &namespace, &plan, submission_id, &mut web_ui).await?;
            return Ok(Submitted {
                driver_pod_name,
                app_id,
                web_ui,
            });
        }
        // Nothing orders the ConfigMaps and Services among themselves: they are created together.
        futures::try_join!(
            futures::future::try_join_all(plan.config_maps().map(|config_map| create_config_map(
                client,
                &namespace,
                config_map,
                submission_id
            ))),
            create_services(
                client,
                &namespace,
                plan.services(),
                &plan,
                submission_id,
                &mut web_ui
            ),
        )?;
        create_ingresses(client, &namespace, &plan, submission_id, &mut web_ui).await?;
        let driver: Slim<Pod> =
            create_or_adopt(client, &namespace, plan.driver_pod(), submission_id).await?;
        Ok(Submitted {
            driver_pod_name: driver.name_any(),
            app_id: attempt.app_id.clone(),
            web_ui,
        })
    }
}

/// The batch scheduler's PodGroup and the driver's PodDisruptionBudget, before the driver: its
/// pods wait on the group, and the budget protects it from its start.
async fn create_scheduling_objects(
    client: &Client,
    namespace: &str,
    plan: &SubmissionPlan,
) -> Result<()> {
    if let Some(group) = &plan.pod_group {
        let reference = &group.reference;
        let collection = reference.collection_path(namespace);
        create_if_absent(client, &collection, &group.object, || {
            Error::KindNotServed {
                resource: "PodGroups".into(),
                api_version: reference.api_version(),
                installed_by: reference.installed_by(),
            }
        })
        .await?;
    }
    if let Some(budget) = &plan.driver_disruption_budget {
        let collection = submission::disruption_budgets_path(namespace);
        let body = serde_json::to_value(budget)?;
        create_if_absent(client, &collection, &body, || Error::KindNotServed {
            resource: "PodDisruptionBudgets".into(),
            api_version: "policy/v1".into(),
            installed_by: "a Kubernetes of 1.21 or later",
        })
        .await?;
    }
    Ok(())
}

async fn create_config_map(
    client: &kube::Client,
    namespace: &str,
    config_map: &ConfigMap,
    submission_id: &str,
) -> Result<()> {
    create_or_adopt::<_, Slim<ConfigMap>>(client, namespace, config_map, submission_id).await?;
    Ok(())
}

async fn create_services<'a>(
    client: &Client,
    namespace: &str,
    services: impl Iterator<Item = &'a Service>,
    plan: &SubmissionPlan,
    submission_id: &str,
    web_ui: &mut WebUi,
) -> Result<()> {
    for service in services {
        let created: WithSpec<Service, ServiceSpec> =
            create_or_adopt(client, namespace, service, submission_id).await?;
        let is_ui = plan
            .ui_service
            .as_ref()
            .is_some_and(|ui| ui.name_any() == created.name_any());
        if is_ui {
            let spec = created.spec.unwrap_or_default();
            let port = spec.ports.unwrap_or_default().first().map(|p| p.port);
            web_ui.service_name = created.metadata.name;
            web_ui.port = port;
            web_ui.address = spec
                .cluster_ip
                .zip(port)
                .map(|(ip, port)| format!("{ip}:{port}"));
        }
    }
    Ok(())
}

async fn create_ingresses(
    client: &Client,
    namespace: &str,
    plan: &SubmissionPlan,
    submission_id: &str,
    web_ui: &mut WebUi,
) -> Result<()> {
    for ingress in plan.ingresses() {
        let created: WithSpec<Ingress, IngressSpec> =
            create_or_adopt(client, namespace, ingress, submission_id).await?;
        let is_ui = plan
            .ui_ingress
            .as_ref()
            .is_some_and(|ui| ui.name_any() == created.name_any());
        if is_ui {
            let rule = created
                .spec
                .and_then(|s| s.rules)
                .and_then(|r| r.into_iter().next());
            let host = rule
                .as_ref()
                .and_then(|r| r.host.clone())
                .unwrap_or_default();
            let path = rule
                .and_then(|r| r.http)
                .and_then(|h| h.paths.into_iter().next())
                .and_then(|p| p.path)
                .unwrap_or_default();
            web_ui.ingress_name = created.metadata.name;
            web_ui.ingress_address = Some(format!("http://{host}{path}"));
        }
    }
    Ok(())
}
