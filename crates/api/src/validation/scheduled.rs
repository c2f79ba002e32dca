//! The rules of a ScheduledSparkApplication.

use kube::ResourceExt;

use super::application::validate_spec;
use super::{FieldError, Problems};
use crate::ScheduledSparkApplication;
use crate::naming::{SCHEDULED_NAME_MAX, is_dns_label};
use crate::schedule::{Schedule, time_zone};

/// Every problem of a scheduled application, its template's included.
pub fn validate_scheduled(scheduled: &ScheduledSparkApplication) -> Vec<FieldError> {
    let mut p = Problems::default();
    let name = scheduled.name_any();
    if !is_dns_label(&name) || name.len() > SCHEDULED_NAME_MAX {
        p.add(
            "metadata.name",
            format!(
                "{name:?} cannot name its runs: use at most {SCHEDULED_NAME_MAX} lower-case letters, digits and '-', starting with a letter"
            ),
        );
    }
    let spec = &scheduled.spec;
    if let Err(reason) = Schedule::parse(&spec.schedule) {
        p.add("spec.schedule", format!("{:?}: {reason}", spec.schedule));
    }
    if let Err(reason) = time_zone(spec.time_zone.as_deref()) {
        p.add("spec.timeZone", reason);
    }
    for (field, value) in [
        (
            "successfulRunHistoryLimit",
            spec.successful_run_history_limit,
        ),
        ("failedRunHistoryLimit", spec.failed_run_history_limit),
    ] {
        if let Some(value) = value.filter(|v| *v < 0) {
            p.add(
                format!("spec.{field}"),
                format!("is {value}: keep 0 or more runs"),
            );
        }
    }
    p.extend(validate_spec(
        &spec.template,
        scheduled.namespace().as_deref(),
        "spec.template",
    ));
    p.into_vec()
}
