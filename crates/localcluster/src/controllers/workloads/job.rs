//! The job controller: a Job runs pods until `completions` of them succeed (`parallelism` at a
//! time), or fails once more than `backoffLimit` pods failed or `activeDeadlineSeconds` passed.
//! Its pods carry the `batch.kubernetes.io/job-tracking` finalizer until they are counted in
//! `status.succeeded` or `status.failed`, so a pod deleted after it ended is never lost from the
//! counts; a failed pod is replaced after the controller's back-off (10 s, doubling, at most
//! 6 min). The conditions are Kubernetes' since 1.31: `SuccessCriteriaMet` then `Complete`,
//! `FailureTarget` then `Failed` once the Job's pods are gone. A finished Job with
//! `ttlSecondsAfterFinished` is deleted that long after it finished.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::pods::{self, is_active, is_ready, phase};
use super::{create, delete, int, owned, update, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// What the Job should do now, decided from its spec and counts.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Keep this many pods running (create or delete to get there).
    Run(i64),
    Succeed,
    Fail(&'static str, &'static str),
}

/// The counts a decision is made from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub active: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Container restarts of the active pods: under `restartPolicy: OnFailure` the kubelet
    /// restarts a failed container in place, and each restart counts against the back-off limit.
    pub restarts: i64,
}

/// The Job's next move: fail past its back-off limit or deadline, succeed once enough pods did,
/// else run as many pods as parallelism and the remaining completions allow.
pub fn decide(spec: &Value, counts: Counts, running_for: Option<SignedDuration>) -> Decision {
    let backoff_limit = spec["backoffLimit"].as_i64().unwrap_or(6);
    let on_failure = spec["template"]["spec"]["restartPolicy"] == "OnFailure";
    let restarts_past_limit = match backoff_limit {
        0 => counts.restarts > 0,
        limit => counts.restarts >= limit,
    };
    if counts.failed > backoff_limit || (on_failure && restarts_past_limit) {
        return Decision::Fail(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        );
    }
    if let (Some(deadline), Some(running_for)) =
        (spec["activeDeadlineSeconds"].as_i64(), running_for)
        && running_for >= SignedDuration::from_secs(deadline)
    {
        return Decision::Fail(
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        );
    }
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    match spec["completions"].as_i64() {
        Some(completions) if counts.succeeded >= completions => Decision::Succeed,
        Some(completions) => Decision::Run(parallelism.min(completions - counts.succeeded)),
        // Without completions, the first success ends the Job once the other pods are done.
        None if counts.succeeded > 0 && counts.active == 0 => Decision::Succeed,
        None if counts.succeeded > 0 => Decision::Run(counts.active),
        None => Decision::Run(parallelism),
    }
}

/// The restarts of a pod's containers, init containers included.
fn container_restarts(pod: &Value) -> i64 {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|field| pod["status"][field].as_array().into_iter().flatten())
        .map(|status| status["restartCount"].as_i64().unwrap_or(0))
        .sum()
}

/// How long after `failed` failures a new pod waits: 10 s, doubling, at most 6 minutes.
pub fn backoff(failed: i64) -> SignedDuration {
    if failed <= 0 {
        return SignedDuration::ZERO;
    }
    let seconds = 10i64.saturating_mul(1 << (failed - 1).min(6));
    SignedDuration::from_secs(seconds.min(360))
}

fn condition_true<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

fn condition(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
        "reason": reason, "message": message})
}

fn time(value: &Value) -> Option<Timestamp> {
    value.as_str()?.parse().ok()
}

pub(super) async fn reconcile(cluster: &Cluster, job: &Value) -> Result<(), ApiError> {
    let now = Timestamp::now();
    let finished = condition_true(job, "Complete").or(condition_true(job, "Failed"));
    if let Some(finished) = finished {
        return expire(cluster, job, finished, now).await;
    }
    let owned_pods = owned(cluster, "pods", job);
    let mut status = job["status"].clone();
    let mut counted = Vec::new();
    for pod in &owned_pods {
        if !meta::finalizers(pod)
            .iter()
            .any(|f| f == TRACKING_FINALIZER)
        {
            continue;
        }
        let ended = match phase(pod) {
            "Succeeded" => Some("succeeded"),
            "Failed" => Some("failed"),
            _ if meta::deletion_timestamp(pod).is_some() => Some("failed"),
            _ => None,
        };
        if let Some(field) = ended {
            status[field] = json!(int(&status, &[field]) + 1);
            counted.push(pod.clone());
        }
    }
    let suspended = job["spec"]["suspend"] == true;
    if status["startTime"].is_null() && !suspended {
        status["startTime"] = json!(meta::format_time(now));
    }
    let active: Vec<&Arc<Value>> = owned_pods.iter().filter(|p| is_active(p)).collect();
    let counts = Counts {
        active: active.len() as i64,
        succeeded: int(&status, &["succeeded"]),
        failed: int(&status, &["failed"]),
        restarts: active.iter().map(|p| container_restarts(p)).sum(),
    };
    let running_for = time(&status["startTime"]).map(|start| now.duration_since(start));
    let decision = if suspended {
        Decision::Run(0)
    } else {
        decide(&job["spec"], counts, running_for)
    };
    let stamp = meta::format_time(now);
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let mut remove_all = false;
    match decision {
        Decision::Run(wanted) => {
            let last_failure = owned_pods.iter().filter_map(|p| finished_at(p)).max();
            let backoff_over = last_failure.is_none_or(|at| at + backoff(counts.failed) <= now);
            if counts.active < wanted && backoff_over {
                for _ in counts.active..wanted {
                    let mut pod = pods::from_template(job, &job["spec"]["template"], None);
                    meta::set_meta(&mut pod, "namespace", meta::namespace(job));
                    meta::set_finalizers(&mut pod, &[TRACKING_FINALIZER.to_string()]);
                    create(cluster, ("v1", "pods"), pod).await?;
                }
            }
            if counts.active > wanted {
                let mut extra: Vec<&Value> = active.iter().map(|p| p.as_ref()).collect();
                pods::deletion_order(&mut extra);
                for pod in extra.into_iter().take((counts.active - wanted) as usize) {
                    delete(cluster, pod).await?;
                }
            }
        }
        Decision::Succeed => {
            if !conditions.iter().any(|c| c["type"] == "SuccessCriteriaMet") {
                conditions.push(condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    &stamp,
                ));
            }
            remove_all = true;
        }
        Decision::Fail(reason, message) => {
            if !conditions.iter().any(|c| c["type"] == "FailureTarget") {
                conditions.push(condition("FailureTarget", reason, message, &stamp));
            }
            remove_all = true;
        }
    }
    if remove_all {
        for pod in &active {
            delete(cluster, pod).await?;
        }
        // Finished once none of its pods runs any more.
        let running = owned_pods
            .iter()
            .any(|p| !matches!(phase(p), "Succeeded" | "Failed"));
        if !running {
            if let Some(target) = conditions
                .iter()
                .find(|c| c["type"] == "FailureTarget")
                .cloned()
            {
                conditions.push(condition(
                    "Failed",
                    target["reason"].as_str().unwrap_or_default(),
                    target["message"].as_str().unwrap_or_default(),
                    &stamp,
                ));
            } else {
                conditions.push(condition(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    &stamp,
                ));
                status["completionTime"] = json!(stamp);
            }
        }
    }
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let terminating = owned_pods
        .iter()
        .filter(|p| {
            meta::deletion_timestamp(p).is_some() && !matches!(phase(p), "Succeeded" | "Failed")
        })
        .count();
    let active_now = if remove_all { 0 } else { counts.active };
    for (field, value) in [
        ("active", active_now),
        ("succeeded", counts.succeeded),
        ("failed", counts.failed),
    ] {
        if value == 0 {
            if let Some(fields) = status.as_object_mut() {
                fields.remove(field);
            }
        } else {
            status[field] = json!(value);
        }
    }
    status["ready"] = json!(ready);
    status["terminating"] = json!(terminating);
    status["uncountedTerminatedPods"] = json!({});
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    write_status(cluster, job, status).await?;
    // Counted now: their finalizers can go.
    for pod in counted {
        release(cluster, &pod).await?;
    }
    Ok(())
}

/// Releases the pods of the Job `name` that is gone or going (deleted, or deleted in the
/// foreground): with nothing left to count them, their tracking finalizer would keep them
/// terminating for ever. Kubernetes' Job controller removes it from such orphans the same way.
pub(super) async fn release_orphans(cluster: &Cluster, namespace: &str, name: &str) {
    let (pods, _) = cluster.store().list("pods", Some(namespace));
    let of_the_job = |pod: &&Arc<Value>| {
        meta::owner_references(pod)
            .iter()
            .any(|r| r["controller"] == true && r["kind"] == "Job" && r["name"] == name)
            && meta::finalizers(pod)
                .iter()
                .any(|f| f == TRACKING_FINALIZER)
    };
    for pod in pods.iter().filter(of_the_job) {
        if let Err(error) = release(cluster, pod).await {
            tracing::debug!(%error, pod = meta::name(pod), "releasing an orphaned Job pod");
        }
    }
}

/// Removes the tracking finalizer of a counted pod, retried on conflicts: a pod left with it
/// would be counted twice.
async fn release(cluster: &Cluster, pod: &Value) -> Result<(), ApiError> {
    let key = crate::storage::ObjectKey::new("pods", meta::namespace(pod), meta::name(pod));
    for _ in 0..10 {
        let Some(current) = cluster.store().get(&key) else {
            return Ok(());
        };
        if meta::uid(&current) != meta::uid(pod) {
            return Ok(());
        }
        let kept: Vec<String> = meta::finalizers(&current)
            .into_iter()
            .filter(|f| f != TRACKING_FINALIZER)
            .collect();
        let mut released = Value::clone(&current);
        meta::set_finalizers(&mut released, &kept);
        match update(cluster, released).await {
            Err(error) if error.code == 409 => continue,
            Err(error) if error.code == 404 => return Ok(()),
            result => return result.map(|_| ()),
        }
    }
    Ok(())
}

/// When a failed pod's containers stopped.
fn finished_at(pod: &Value) -> Option<Timestamp> {
    if phase(pod) != "Failed" {
        return None;
    }
    pod["status"]["containerStatuses"]
        .as_array()?
        .iter()
        .filter_map(|c| time(&c["state"]["terminated"]["finishedAt"]))
        .max()
}

/// A finished Job: deleted once `ttlSecondsAfterFinished` has passed since it finished.
async fn expire(
    cluster: &Cluster,
    job: &Value,
    finished: &Value,
    now: Timestamp,
) -> Result<(), ApiError> {
    let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_i64() else {
        return Ok(());
    };
    let Some(at) = time(&job["status"]["completionTime"]).or(time(&finished["lastTransitionTime"]))
    else {
        return Ok(());
    };
    if at + SignedDuration::from_secs(ttl) <= now {
        delete(cluster, job).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(active: i64, succeeded: i64, failed: i64) -> Counts {
        Counts {
            active,
            succeeded,
            failed,
            restarts: 0,
        }
    }

    #[test]
    fn runs_parallel_pods_until_completions() {
        let spec = json!({"completions": 3, "parallelism": 2, "backoffLimit": 6});
        assert_eq!(decide(&spec, counts(0, 0, 0), None), Decision::Run(2));
        assert_eq!(decide(&spec, counts(2, 2, 0), None), Decision::Run(1));
        assert_eq!(decide(&spec, counts(0, 3, 0), None), Decision::Succeed);
    }

    #[test]
    fn fails_past_the_backoff_limit_or_the_deadline() {
        let spec = json!({"completions": 1, "parallelism": 1, "backoffLimit": 1, "activeDeadlineSeconds": 5});
        assert_eq!(decide(&spec, counts(0, 0, 1), None), Decision::Run(1));
        assert!(decide(&spec, counts(0, 0, 2), None).is_fail());
        let late = Some(SignedDuration::from_secs(5));
        assert_eq!(
            decide(&spec, counts(1, 0, 0), late),
            Decision::Fail(
                "DeadlineExceeded",
                "Job was active longer than specified deadline"
            )
        );
        // Under OnFailure the restarts of the running pods count instead of failed pods.
        let on_failure =
            json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}});
        let restarted = |restarts| Counts {
            restarts,
            ..counts(1, 0, 0)
        };
        assert_eq!(decide(&on_failure, restarted(1), None), Decision::Run(1));
        assert!(decide(&on_failure, restarted(2), None).is_fail());
        assert!(decide(&spec, restarted(5), None) == Decision::Run(1));
    }

    #[test]
    fn a_work_queue_job_ends_with_its_first_success() {
        let spec = json!({"parallelism": 2});
        assert_eq!(decide(&spec, counts(0, 0, 0), None), Decision::Run(2));
        assert_eq!(decide(&spec, counts(1, 1, 0), None), Decision::Run(1));
        assert_eq!(decide(&spec, counts(0, 1, 0), None), Decision::Succeed);
    }

    #[test]
    fn backoff_doubles_up_to_six_minutes() {
        let secs: Vec<i64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 320, 360, 360]);
    }

    impl Decision {
        fn is_fail(&self) -> bool {
            matches!(self, Decision::Fail("BackoffLimitExceeded", _))
        }
    }
}
