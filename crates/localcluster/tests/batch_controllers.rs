//! Jobs and CronJobs at work on the simulated nodes, through kube-rs and the real kubectl: Jobs
//! run their pods to completion, fail past their back-off limit or deadline and go after their
//! TTL; CronJobs make Jobs on schedule.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use localcluster::LocalCluster;
use localcluster::simulation::NodesConfig;
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;
use testkit::wait::eventually;

async fn start() -> LocalCluster {
    cluster::start_with_nodes(NodesConfig::default()).await
}

fn job(name: &str, spec: Value, annotations: Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"metadata": {"annotations": annotations},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}});
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn conditions(job: &Job) -> Vec<(String, String)> {
    let status = serde_json::to_value(job.status.clone().unwrap_or_default()).unwrap();
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["reason"].as_str().unwrap_or_default().into(),
            )
        })
        .collect()
}

async fn finished(jobs: &Api<Job>, name: &str, seconds: u64) -> Job {
    eventually(seconds, || async {
        let job = jobs.get(name).await.unwrap();
        conditions(&job)
            .iter()
            .any(|(t, _)| t == "Complete" || t == "Failed")
            .then_some(job)
    })
    .await
}

/// Waits until the Job `name` and every pod of it are gone.
async fn gone_with_its_pods(jobs: &Api<Job>, pods: &Api<Pod>, name: &str) {
    let of_the_job = ListParams::default().labels(&format!("job-name={name}"));
    eventually(20, || async {
        let gone = jobs.get_opt(name).await.unwrap().is_none();
        let left = pods.list(&of_the_job).await.unwrap().items;
        (gone && left.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_job_runs_its_completions_two_at_a_time() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let created = jobs
        .create(
            &PostParams::default(),
            &job(
                "pi",
                json!({"completions": 3, "parallelism": 2}),
                json!({"localcluster/run-seconds": "0.5"}),
            ),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.unwrap();
    let most = {
        let pods = pods.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..100 {
                let running = pods
                    .list(&ListParams::default().labels("job-name=pi"))
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .filter(|p| {
                        let phase = p
                            .status
                            .as_ref()
                            .and_then(|s| s.phase.clone())
                            .unwrap_or_default();
                        phase == "Running" || phase == "Pending"
                    })
                    .count();
                most = most.max(running);
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            most
        })
    };
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&[
            "wait",
            "--for=condition=complete",
            "job/pi",
            "--timeout=30s",
        ])
        .await;
    let done = jobs.get("pi").await.unwrap();
    let status = done.status.clone().unwrap();
    assert_eq!(
        (status.succeeded, status.failed, status.active),
        (Some(3), None, None)
    );
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert_eq!(
        conditions(&done),
        [
            (
                "SuccessCriteriaMet".to_string(),
                "CompletionsReached".to_string()
            ),
            ("Complete".to_string(), "CompletionsReached".to_string())
        ]
    );
    assert!(most.await.unwrap() <= 2);
    let made = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}")))
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 3);
    for pod in &made {
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], uid);
        assert!(
            pod.metadata
                .finalizers
                .clone()
                .unwrap_or_default()
                .is_empty(),
            "counted pods keep no finalizer"
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn failing_pods_exhaust_the_backoff_limit_and_deadlines_end_jobs() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let failing = json!({"localcluster/run-seconds": "0.2", "localcluster/exit-code": "1"});
    jobs.create(
        &PostParams::default(),
        &job("flaky", json!({"backoffLimit": 1}), failing),
    )
    .await
    .unwrap();
    let forever = json!({"localcluster/run-seconds": "forever"});
    jobs.create(
        &PostParams::default(),
        &job("slow", json!({"activeDeadlineSeconds": 2}), forever),
    )
    .await
    .unwrap();

    let slow = finished(&jobs, "slow", 20).await;
    assert_eq!(
        conditions(&slow),
        [
            ("FailureTarget".to_string(), "DeadlineExceeded".to_string()),
            ("Failed".to_string(), "DeadlineExceeded".to_string())
        ]
    );
    assert!(slow.status.unwrap().completion_time.is_none());
    eventually(20, || async {
        let left = pods
            .list(&ListParams::default().labels("job-name=slow"))
            .await
            .unwrap()
            .items;
        left.iter()
            .all(|p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
                    || p.metadata.deletion_timestamp.is_some()
            })
            .then_some(())
    })
    .await;

    // Two failures (the second after the 10 s back-off) exceed a back-off limit of 1.
    let flaky = finished(&jobs, "flaky", 40).await;
    assert_eq!(
        conditions(&flaky),
        [
            (
                "FailureTarget".to_string(),
                "BackoffLimitExceeded".to_string()
            ),
            ("Failed".to_string(), "BackoffLimitExceeded".to_string())
        ]
    );
    assert_eq!(flaky.status.unwrap().failed, Some(2));
    let made = pods
        .list(&ListParams::default().labels("job-name=flaky"))
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 2);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_finished_job_goes_after_its_ttl() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    jobs.create(
        &PostParams::default(),
        &job(
            "brief",
            json!({"ttlSecondsAfterFinished": 1}),
            json!({"localcluster/run-seconds": "0.2"}),
        ),
    )
    .await
    .unwrap();
    finished(&jobs, "brief", 20).await;
    gone_with_its_pods(&jobs, &pods, "brief").await;
    cluster.shutdown().await;
}

/// A Job deleted while its pods run: the garbage collector deletes the pods, and with no Job
/// left to count them their tracking finalizer is removed, so they go instead of staying
/// Terminating (what `kubectl delete job` does to a running Job).
#[tokio::test]
async fn a_running_job_deleted_takes_its_pods_with_it() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    jobs.create(
        &PostParams::default(),
        &job(
            "endless",
            json!({}),
            json!({"localcluster/run-seconds": "forever"}),
        ),
    )
    .await
    .unwrap();
    let of_the_job = ListParams::default().labels("job-name=endless");
    eventually(20, || async {
        let running = pods.list(&of_the_job).await.unwrap().items;
        running
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .then_some(())
    })
    .await;
    jobs.delete("endless", &Default::default()).await.unwrap();
    gone_with_its_pods(&jobs, &pods, "endless").await;
    cluster.shutdown().await;
}

/// On the real clock: the test waits for the next minute to begin (at most about a minute).
#[tokio::test]
async fn a_cron_job_makes_a_job_each_scheduled_minute_unless_suspended() {
    use k8s_openapi::api::batch::v1::CronJob;
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let cron_jobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    for (name, suspend) in [("tick", false), ("paused", true)] {
        let cron_job: CronJob =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "schedule": "* * * * *", "suspend": suspend, "successfulJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"cron": name}}, "spec": {"template": {
                "metadata": {"annotations": {"localcluster/run-seconds": "0.2"}},
                "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}}}))
            .unwrap();
        cron_jobs
            .create(&PostParams::default(), &cron_job)
            .await
            .unwrap();
    }
    let made = eventually(75, || async {
        let made = jobs
            .list(&ListParams::default().labels("cron=tick"))
            .await
            .unwrap()
            .items;
        made.into_iter().next()
    })
    .await;
    let name = made.metadata.name.clone().unwrap();
    let minutes: i64 = name.strip_prefix("tick-").unwrap().parse().unwrap();
    let scheduled = made.metadata.annotations.clone().unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"].clone();
    let scheduled: jiff::Timestamp = scheduled.parse().unwrap();
    assert_eq!(scheduled.as_second(), minutes * 60);
    let owner = &made.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("CronJob", "tick")
    );

    let status = eventually(30, || async {
        let status = cron_jobs
            .get("tick")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        status.last_successful_time.is_some().then_some(status)
    })
    .await;
    assert_eq!(
        status.last_schedule_time.unwrap().0.as_second(),
        minutes * 60
    );
    assert!(status.active.unwrap_or_default().is_empty());
    let paused = jobs
        .list(&ListParams::default().labels("cron=paused"))
        .await
        .unwrap()
        .items;
    assert!(paused.is_empty(), "a suspended CronJob made a Job");
    cluster.shutdown().await;
}
