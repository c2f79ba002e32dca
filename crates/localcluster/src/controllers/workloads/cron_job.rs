//! The CronJob controller: at each time its `schedule` names (five-field cron or `@hourly`-style
//! descriptors, in `timeZone`, else UTC) a CronJob makes a Job `<cronjob>-<minutes since the
//! epoch>` from its template, unless suspended, too late (`startingDeadlineSeconds`) or, under
//! `concurrencyPolicy: Forbid`, while a Job of it runs (`Replace` deletes the running ones
//! first). It keeps `successfulJobsHistoryLimit` and `failedJobsHistoryLimit` finished Jobs and
//! reports `active`, `lastScheduleTime` and `lastSuccessfulTime`. Time is the real clock: a
//! schedule of every minute makes a Job within the minute.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{create, delete, owned, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// A schedule: the cron expression, with the descriptors Kubernetes accepts expanded.
pub fn parse_schedule(expression: &str) -> Result<croner::Cron, String> {
    let expanded = match expression.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expanded)
        .map_err(|e| e.to_string())
}

/// The latest scheduled time in `(after, now]`, if any.
pub fn latest_due(
    schedule: &croner::Cron,
    zone: &TimeZone,
    after: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut latest = None;
    let mut from = after.to_zoned(zone.clone());
    // Kubernetes looks at most this far back; beyond it only the latest time matters.
    for _ in 0..100 {
        let next = schedule.find_next_occurrence(&from, false).ok()?;
        if next.timestamp() > now {
            break;
        }
        latest = Some(next.timestamp());
        from = next;
    }
    if latest.is_some_and(|l| l < now - SignedDuration::from_secs(60 * 100)) {
        return schedule
            .find_previous_occurrence(&now.to_zoned(zone.clone()), true)
            .ok()
            .map(|z| z.timestamp());
    }
    latest
}

/// What to do at a scheduled time, given the policy and whether Jobs of the CronJob run.
#[derive(Debug, PartialEq)]
pub enum Action {
    Start,
    /// Delete the running Jobs, then start.
    Replace,
    Skip,
}

pub fn action(policy: &str, running: bool, late: bool) -> Action {
    match (policy, running, late) {
        (_, _, true) => Action::Skip,
        ("Forbid", true, _) => Action::Skip,
        ("Replace", true, _) => Action::Replace,
        _ => Action::Start,
    }
}

/// The Job of `cron_job` for the time `at`.
pub fn job_for(cron_job: &Value, at: Timestamp, zone: &TimeZone) -> Value {
    let template = &cron_job["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        SCHEDULED_ANNOTATION.into(),
        json!(
            at.to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        ),
    );
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": format!("{}-{}", meta::name(cron_job), at.as_second() / 60),
            "namespace": meta::namespace(cron_job),
            "labels": template["metadata"]["labels"].clone(),
            "annotations": annotations,
            "ownerReferences": [super::pods::controller_reference(cron_job)],
        },
        "spec": template["spec"].clone(),
    })
}

fn finished_as(job: &Value) -> Option<&'static str> {
    let conditions = job["status"]["conditions"].as_array()?;
    conditions
        .iter()
        .find_map(|c| match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Complete"), Some("True")) => Some("Complete"),
            (Some("Failed"), Some("True")) => Some("Failed"),
            _ => None,
        })
}

fn time(value: &Value) -> Option<Timestamp> {
    value.as_str()?.parse().ok()
}

pub(super) async fn reconcile(cluster: &Cluster, cron_job: &Value) -> Result<(), ApiError> {
    let now = Timestamp::now();
    let spec = &cron_job["spec"];
    let mut jobs: Vec<Arc<Value>> = owned(cluster, "jobs.batch", cron_job);
    jobs.sort_by_key(|j| {
        meta::str_at(j, &["metadata", "creationTimestamp"])
            .unwrap_or_default()
            .to_string()
    });
    let mut status = cron_job["status"].clone();
    let zone = spec["timeZone"]
        .as_str()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let running: Vec<&Arc<Value>> = jobs.iter().filter(|j| finished_as(j).is_none()).collect();
    if let (false, Ok(schedule)) = (
        spec["suspend"] == true,
        parse_schedule(spec["schedule"].as_str().unwrap_or_default()),
    ) {
        let since = time(&status["lastScheduleTime"])
            .or(time(&cron_job["metadata"]["creationTimestamp"]))
            .unwrap_or(now);
        if let Some(due) = latest_due(&schedule, &zone, since, now) {
            let late = spec["startingDeadlineSeconds"]
                .as_i64()
                .is_some_and(|d| due + SignedDuration::from_secs(d) < now);
            let policy = spec["concurrencyPolicy"].as_str().unwrap_or("Allow");
            match action(policy, !running.is_empty(), late) {
                Action::Skip => {}
                act => {
                    if act == Action::Replace {
                        for job in &running {
                            delete(cluster, job).await?;
                        }
                    }
                    match create(cluster, ("batch/v1", "jobs"), job_for(cron_job, due, &zone)).await
                    {
                        Err(error) if error.code != 409 => return Err(error),
                        _ => {}
                    }
                    status["lastScheduleTime"] = json!(meta::format_time(due));
                }
            }
        }
    }
    let jobs: Vec<Arc<Value>> = owned(cluster, "jobs.batch", cron_job);
    let active: Vec<Value> = jobs
        .iter()
        .filter(|j| finished_as(j).is_none() && meta::deletion_timestamp(j).is_none())
        .map(|j| {
            json!({"kind": "Job", "namespace": meta::namespace(j), "name": meta::name(j),
            "uid": meta::uid(j), "apiVersion": "batch/v1",
            "resourceVersion": meta::resource_version(j).to_string()})
        })
        .collect();
    if active.is_empty() {
        if let Some(fields) = status.as_object_mut() {
            fields.remove("active");
        }
    } else {
        status["active"] = json!(active);
    }
    if let Some(latest) = jobs
        .iter()
        .filter(|j| finished_as(j) == Some("Complete"))
        .filter_map(|j| time(&j["status"]["completionTime"]))
        .max()
    {
        status["lastSuccessfulTime"] = json!(meta::format_time(latest));
    }
    write_status(cluster, cron_job, status).await?;
    for (outcome, limit_field, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let limit = spec[limit_field].as_i64().unwrap_or(default).max(0) as usize;
        let mut done: Vec<&Arc<Value>> = jobs
            .iter()
            .filter(|j| finished_as(j) == Some(outcome) && meta::deletion_timestamp(j).is_none())
            .collect();
        done.sort_by_key(|j| {
            meta::str_at(j, &["metadata", "creationTimestamp"])
                .unwrap_or_default()
                .to_string()
        });
        for job in done.iter().take(done.len().saturating_sub(limit)) {
            delete(cluster, job).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_latest_due_time_since_the_last_one() {
        let every_five = parse_schedule("*/5 * * * *").unwrap();
        let due = latest_due(
            &every_five,
            &TimeZone::UTC,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:12:30Z"),
        );
        assert_eq!(due, Some(at("2026-01-01T00:10:00Z")));
        let none = latest_due(
            &every_five,
            &TimeZone::UTC,
            at("2026-01-01T00:10:00Z"),
            at("2026-01-01T00:14:59Z"),
        );
        assert_eq!(none, None);
        let hourly = parse_schedule("@hourly").unwrap();
        let due = latest_due(
            &hourly,
            &TimeZone::UTC,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-03T05:30:00Z"),
        );
        assert_eq!(due, Some(at("2026-01-03T05:00:00Z")));
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        let nine = parse_schedule("0 9 * * *").unwrap();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let due = latest_due(
            &nine,
            &berlin,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T12:00:00Z"),
        );
        assert_eq!(due, Some(at("2026-01-01T08:00:00Z")));
        assert!(parse_schedule("61 * * * *").is_err());
    }

    #[test]
    fn concurrency_policies() {
        assert_eq!(action("Allow", true, false), Action::Start);
        assert_eq!(action("Forbid", true, false), Action::Skip);
        assert_eq!(action("Forbid", false, false), Action::Start);
        assert_eq!(action("Replace", true, false), Action::Replace);
        assert_eq!(action("Allow", false, true), Action::Skip);
    }

    #[test]
    fn jobs_are_named_by_their_minute() {
        let cron_job = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "report", "namespace": "default", "uid": "u"},
            "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"backoffLimit": 2}}}});
        let job = job_for(&cron_job, at("2026-01-01T00:10:00Z"), &TimeZone::UTC);
        assert_eq!(
            job["metadata"]["name"],
            format!("report-{}", at("2026-01-01T00:10:00Z").as_second() / 60)
        );
        assert_eq!(
            job["metadata"]["annotations"][SCHEDULED_ANNOTATION],
            "2026-01-01T00:10:00+00:00"
        );
        assert_eq!(job["spec"]["backoffLimit"], 2);
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    }
}
