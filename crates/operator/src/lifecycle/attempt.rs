//! What a submission attempt records in the status, before it is made and once it is known how it
//! went.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use spark_operator_api::naming::driver_pod_name;
use spark_operator_api::{
    ApplicationState, ApplicationStateType, SparkApplication, SparkApplicationStatus,
};

use super::retry::increment;
use super::{
    DEFAULT_DRIVER_POD_CREATION_GRACE_PERIOD, Decision, SubmissionOutcome, Submitted, events,
};

/// A failed submission is looked at again at once: that decides between retrying and FAILED.
const AFTER_FAILED_SUBMISSION: Duration = Duration::ZERO;

/// Records attempt `submission_id` as Kubeflow does before it submits: the id, the driver's name,
/// the time, one more submission attempt, and the generation the attempt is made from.
pub fn begin(
    status: &mut SparkApplicationStatus,
    app: &SparkApplication,
    submission_id: String,
    now: jiff::Timestamp,
) {
    status.submission_id = Some(submission_id);
    status.driver_info.pod_name = Some(driver_pod_name(app));
    status.last_submission_attempt_time = Some(Time(now));
    increment(&mut status.submission_attempts);
    super::spec_change::observe(status, app);
}

/// Records a submission that succeeded: SUBMITTED, one more execution attempt.
pub fn succeed(status: &mut SparkApplicationStatus, driver_pod: String, app_id: Option<String>) {
    status.application_state = ApplicationState {
        state: ApplicationStateType::Submitted,
        error_message: None,
    };
    increment(&mut status.execution_attempts);
    status.driver_info.pod_name = Some(driver_pod);
    if app_id.is_some() {
        status.spark_application_id = app_id;
    }
}

pub fn after_submission(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    outcome: SubmissionOutcome,
    _now: jiff::Timestamp,
) -> Decision {
    let name = app.name_any();
    let mut status = status.clone();
    match outcome {
        SubmissionOutcome::Submitted(Submitted {
            driver_pod_name,
            app_id,
            web_ui,
        }) => {
            succeed(&mut status, driver_pod_name, Some(app_id));
            let info = &mut status.driver_info;
            info.web_ui_service_name = web_ui.service_name;
            info.web_ui_port = web_ui.port;
            info.web_ui_address = web_ui.address;
            info.web_ui_ingress_name = web_ui.ingress_name;
            info.web_ui_ingress_address = web_ui.ingress_address;
            Decision {
                status,
                actions: vec![events::submitted(&name)],
                // Time to notice a driver pod that never shows up.
                requeue_after: Some(DEFAULT_DRIVER_POD_CREATION_GRACE_PERIOD),
            }
        }
        SubmissionOutcome::Failed { message } => {
            let error = format!("failed to submit spark application: {message}");
            let event = events::submission_failed(&name, &error);
            status.application_state = ApplicationState {
                state: ApplicationStateType::SubmissionFailed,
                error_message: Some(error),
            };
            Decision {
                status,
                actions: vec![event],
                requeue_after: Some(AFTER_FAILED_SUBMISSION),
            }
        }
    }
}
