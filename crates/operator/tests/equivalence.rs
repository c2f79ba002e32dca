//! Native submission against Spark's own: every SparkApplication of `tests/equivalence/corpus/`
//! is submitted by the real `spark-submit` (with the arguments and pod template files of
//! `spark_submit_args` and `pod_template_files`, run by the operator's `SparkSubmitter`) to one
//! local cluster, and planned natively (`submission::plan`, its objects created as the operator
//! creates them) in another. The driver Pod, the driver Service, the driver ConfigMap, the parsed
//! `spark.properties` and the executor pod template (what the driver builds executors from) are
//! compared after normalising what is random by design (see `equivalence/objects.rs`). Every
//! difference must be listed, with its reason, in `tests/equivalence/allow-list.yaml`, and every
//! entry there must still be needed.
//!
//! Needs Spark: `SPARK_HOME`, or `pip install pyspark==4.0.1`. Without it the comparison is
//! skipped with a notice (the corpus checks still run). `EQUIVALENCE_ONLY=a,b` runs only the
//! named corpus files (then unused allow-list entries are not reported).

#[path = "equivalence/corpus.rs"]
mod corpus;
#[path = "equivalence/diff.rs"]
mod diff;
#[path = "equivalence/objects.rs"]
mod objects;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::PostParams;
use kube::{Api, Client};
use localcluster::{LocalCluster, Options};
use spark_operator::install::install_spark_service_account;
use spark_operator::submission::{SubmissionContext, SubmissionOptions, plan};
use spark_operator::submitter::spark_submit::{
    SparkSubmitOptions, SparkSubmitter, find_spark_home,
};
use spark_operator_api::SparkApplication;

use diff::{Allowed, Difference};

/// spark-submit runs at once: each is a JVM using about one core for 3.5 s.
const PARALLEL: usize = 3;

#[test]
fn corpus_uses_every_spec_field_and_every_type() {
    let corpus = corpus::load();
    assert!(corpus.len() >= 20, "the corpus has {} files", corpus.len());
    let missing = corpus::unused_fields(&corpus);
    assert!(missing.is_empty(), "no corpus file sets {missing:?}");
    let types = corpus::types(&corpus);
    for wanted in ["Scala", "Java", "Python", "R"] {
        assert!(
            types.contains(wanted),
            "no {wanted} application in the corpus"
        );
    }
}

#[test]
fn allow_list_entries_have_reasons() {
    for entry in load_allow_list() {
        assert!(
            entry.reason.split_whitespace().count() >= 5,
            "allow-list entry {} needs a reason",
            entry.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_submission_creates_what_spark_submit_creates() {
    let spark_home = match find_spark_home(None) {
        Ok(home) => home,
        Err(error) => {
            eprintln!("SKIPPED native_submission_creates_what_spark_submit_creates: {error}");
            return;
        }
    };
    let only: Option<Vec<String>> = std::env::var("EQUIVALENCE_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let corpus: Vec<corpus::Entry> = corpus::load()
        .into_iter()
        .filter(|e| only.as_ref().is_none_or(|o| o.contains(&e.name)))
        .collect();
    let started = Instant::now();
    corpus::create_maven_repo();

    let submitted_cluster = LocalCluster::start(Options::default())
        .await
        .expect("cluster");
    let native_cluster = LocalCluster::start(Options::default())
        .await
        .expect("cluster");
    let work = scratch_dir();
    let kubeconfig = work.join("kubeconfig");
    submitted_cluster
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let submitter = SparkSubmitter::new(SparkSubmitOptions {
        spark_home: Some(spark_home),
        max_concurrent: PARALLEL,
        timeout: Duration::from_secs(300),
        kubeconfig: Some(kubeconfig),
        ..SparkSubmitOptions::default()
    })
    .expect("spark-submit found");
    let options = SubmissionOptions {
        pod_template_dir: work.join("templates").display().to_string(),
        ..SubmissionOptions::default()
    };
    let runs = corpus.iter().map(|entry| Run {
        entry,
        submitter: &submitter,
        options: &options,
        submitted: (
            &submitted_cluster,
            submitted_cluster.client().expect("client"),
        ),
        native: (&native_cluster, native_cluster.client().expect("client")),
    });
    let results: Vec<Result<Vec<Difference>, String>> = futures::stream::iter(runs)
        .map(Run::compare)
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let _ = std::fs::remove_dir_all(&work);

    let mut failures: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
    let differences: Vec<Difference> = results
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .collect();
    let allow_list = load_allow_list();
    let mut used = vec![false; allow_list.len()];
    for difference in &differences {
        match allow_list.iter().position(|a| a.covers(difference)) {
            Some(i) => used[i] = true,
            None => failures.push(format!("not in the allow-list: {difference}")),
        }
    }
    if only.is_none() {
        for (entry, used) in allow_list.iter().zip(used) {
            if !used {
                failures.push(format!("allow-list entry {} matched nothing", entry.path));
            }
        }
    }
    eprintln!(
        "equivalence: {} applications, {} allowed differences, {:.1}s",
        corpus.len(),
        differences.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One corpus file submitted both ways.
struct Run<'a> {
    entry: &'a corpus::Entry,
    submitter: &'a SparkSubmitter,
    options: &'a SubmissionOptions,
    submitted: (&'a LocalCluster, Client),
    native: (&'a LocalCluster, Client),
}

impl Run<'_> {
    async fn compare(self) -> Result<Vec<Difference>, String> {
        let name = &self.entry.name;
        let app = &self.entry.app;
        let namespace = app.metadata.namespace.clone().unwrap_or_default();
        let context = |cluster: &LocalCluster| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            SubmissionContext::with_options(
                app,
                &format!("{name}-1"),
                now,
                &cluster.url(),
                self.options.clone(),
            )
        };

        let (cluster, client) = &self.submitted;
        create_namespace(client, &namespace, app).await?;
        self.submitter
            .submit(app, &context(cluster))
            .await
            .map_err(|e| format!("{name}: spark-submit: {e}"))?;
        let submitted = objects::collect(client, &namespace, &cluster.url())
            .await
            .map_err(|e| format!("{name}: after spark-submit: {e}"))?;

        let (cluster, client) = &self.native;
        create_namespace(client, &namespace, app).await?;
        create_native(client, app, &context(cluster))
            .await
            .map_err(|e| format!("{name}: native: {e}"))?;
        let native = objects::collect(client, &namespace, &cluster.url())
            .await
            .map_err(|e| format!("{name}: after native submission: {e}"))?;

        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&String> =
            submitted.keys().chain(native.keys()).collect();
        for key in keys {
            diff::differences(name, key, submitted.get(key), native.get(key), &mut out);
        }
        Ok(out)
    }
}

/// Creates the objects of the native plan that spark-submit would create, as the operator does.
async fn create_native(
    client: &Client,
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<(), String> {
    let plan = plan(app, ctx).map_err(|e| e.to_string())?;
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let post = PostParams::default();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for map in [&plan.executor_template_config_map, &plan.driver_config_map] {
        config_maps
            .create(&post, map)
            .await
            .map_err(|e| e.to_string())?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    services
        .create(&post, &plan.driver_service)
        .await
        .map_err(|e| e.to_string())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(&post, &plan.driver_pod)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The application's namespace, with its driver's service account as an installation makes it
/// there (the API server refuses a driver pod whose service account is missing).
async fn create_namespace(
    client: &Client,
    name: &str,
    app: &SparkApplication,
) -> Result<(), String> {
    let namespace = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(format!("namespace {name}: {error}")),
    }
    match app.spec.driver.pod.service_account.as_deref() {
        None | Some("default") => Ok(()),
        Some(account) => install_spark_service_account(client, name, account)
            .await
            .map_err(|e| format!("service account {name}/{account}: {e}")),
    }
}

fn load_allow_list() -> Vec<Allowed> {
    let path = corpus::dir().join("allow-list.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("equivalence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}
