//! Creating the objects of one submission attempt: natively (the operator builds them), or by
//! running `spark-submit` when the operator or the application chooses it. Either way the
//! operator adds the Spark UI Service and Ingresses.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use kube::ResourceExt;
use spark_operator_api::{DriverInfo, SparkApplication};

use super::Context;
use super::cached::{Slim, WithSpec};
use super::resources::create_or_adopt;
use crate::config::SubmitterKind;
use crate::error::{Error, Result};
use crate::lifecycle::SubmissionOutcome;
use crate::submission::{self, SubmissionContext, SubmissionPlan};

/// Creates the objects of attempt `submission_id`: the ConfigMaps and Services at once, then the
/// driver pod, so that it starts with everything it mounts already there. `web_ui` receives where
/// the Spark UI is served.
pub async fn submit(
    app: &SparkApplication,
    ctx: &Context,
    submission_id: &str,
    now: jiff::Timestamp,
    web_ui: &mut DriverInfo,
) -> Result<SubmissionOutcome> {
    let kind = SubmitterKind::of(app, ctx.config.submitter).map_err(Error::Submission)?;
    let attempt = SubmissionContext::new(
        app,
        submission_id,
        now.as_millisecond(),
        &ctx.master_url,
        &ctx.config,
    );
    let plan = submission::plan(app, &attempt).map_err(|e| Error::Submission(e.to_string()))?;
    let namespace = app.namespace().unwrap_or_default();
    let client = &ctx.client;
    if kind == SubmitterKind::SparkSubmit {
        // spark-submit makes the driver, its ConfigMaps and headless Service; the monitoring
        // ConfigMap, the UI Service and the Ingresses are the operator's, as in Kubeflow.
        for config_map in plan.prometheus_config_map.iter() {
            create_config_map(client, &namespace, config_map, submission_id).await?;
        }
        let outcome = super::spark_submit::submit(app, ctx, &attempt).await?;
        let operator_services = plan.ui_service.iter().chain(&plan.driver_ingress_services);
        create_services(
            ctx,
            &namespace,
            operator_services,
            &plan,
            submission_id,
            web_ui,
        )
        .await?;
        create_ingresses(ctx, &namespace, &plan, submission_id, web_ui).await?;
        return Ok(outcome);
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
            ctx,
            &namespace,
            plan.services(),
            &plan,
            submission_id,
            web_ui
        ),
    )?;
    create_ingresses(ctx, &namespace, &plan, submission_id, web_ui).await?;
    let driver: Slim<Pod> =
        create_or_adopt(client, &namespace, plan.driver_pod(), submission_id).await?;
    Ok(SubmissionOutcome::Submitted {
        driver_pod_name: driver.name_any(),
        app_id: attempt.app_id.clone(),
    })
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
    ctx: &Context,
    namespace: &str,
    services: impl Iterator<Item = &'a Service>,
    plan: &SubmissionPlan,
    submission_id: &str,
    web_ui: &mut DriverInfo,
) -> Result<()> {
    for service in services {
        let created: WithSpec<Service, ServiceSpec> =
            create_or_adopt(&ctx.client, namespace, service, submission_id).await?;
        let is_ui = plan
            .ui_service
            .as_ref()
            .is_some_and(|ui| ui.name_any() == created.name_any());
        if is_ui {
            let spec = created.spec.unwrap_or_default();
            let port = spec.ports.unwrap_or_default().first().map(|p| p.port);
            web_ui.web_ui_service_name = created.metadata.name;
            web_ui.web_ui_port = port;
            web_ui.web_ui_address = spec
                .cluster_ip
                .zip(port)
                .map(|(ip, port)| format!("{ip}:{port}"));
        }
    }
    Ok(())
}

async fn create_ingresses(
    ctx: &Context,
    namespace: &str,
    plan: &SubmissionPlan,
    submission_id: &str,
    web_ui: &mut DriverInfo,
) -> Result<()> {
    for ingress in plan.ingresses() {
        let created: WithSpec<Ingress, IngressSpec> =
            create_or_adopt(&ctx.client, namespace, ingress, submission_id).await?;
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
            web_ui.web_ui_ingress_name = created.metadata.name;
            web_ui.web_ui_ingress_address = Some(format!("http://{host}{path}"));
        }
    }
    Ok(())
}
