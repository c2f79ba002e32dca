//! What the operator guarantees when the API server fails it: a transient error never fails an
//! application and never submits one twice, and after an outage the operator resumes within
//! seconds. The faults are the local cluster's (`localcluster::faults`), aimed at the
//! operator's requests only (by its User-Agent), so that the test's own client and the
//! simulated nodes see a healthy server.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::ListParams;
use localcluster::Options;
use localcluster::faults::Faults;
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::Env;
use testkit::fixtures::SparkApplicationFixture;

const APPLICATIONS: usize = 100;

fn faults(specs: &[&str]) -> Faults {
    Faults {
        rules: specs
            .iter()
            .map(|spec| spec.parse().expect("a fault rule"))
            .collect(),
    }
}

/// Every application's state, by name.
async fn states(env: &Env) -> BTreeMap<String, State> {
    env.apps()
        .list(&ListParams::default())
        .await
        .expect("applications listed")
        .items
        .into_iter()
        .map(|app| {
            let state = app
                .status
                .map(|s| s.application_state.state)
                .unwrap_or_default();
            (app.metadata.name.unwrap_or_default(), state)
        })
        .collect()
}

async fn create_applications(env: &Env, prefix: &str, count: usize) {
    for i in 0..count {
        let app = SparkApplication::spark_pi(&format!("{prefix}-{i}"))
            .runs_for("0.3")
            .executors(1);
        env.create(&app.to_yaml()).await;
    }
}

/// Each application completed after exactly one submission and one run, with one driver pod.
async fn assert_exactly_once(env: &Env) {
    for app in env.apps().list(&ListParams::default()).await.unwrap().items {
        let name = app.metadata.name.clone().unwrap_or_default();
        let status = app.status.unwrap_or_default();
        assert_eq!(
            (
                status.application_state.state,
                status.submission_attempts,
                status.execution_attempts
            ),
            (State::Completed, Some(1), Some(1)),
            "{name}: {:?}",
            status.application_state.error_message
        );
    }
    let drivers = env
        .pods()
        .list(&ListParams::default().labels("spark-role=driver"))
        .await
        .unwrap()
        .items;
    let mut per_app: BTreeMap<String, usize> = BTreeMap::new();
    for driver in &drivers {
        let app = driver.metadata.labels.as_ref().unwrap()["sparkoperator.k8s.io/app-name"].clone();
        *per_app.entry(app).or_default() += 1;
    }
    assert!(
        per_app.values().all(|n| *n == 1),
        "one driver each: {per_app:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_complete_exactly_once_under_api_faults() {
    let options = Options {
        faults: faults(&[
            "status=500,fraction=0.05,agents=spark-operator",
            "reset,fraction=0.02,agents=spark-operator",
            "lose-answer,fraction=0.02,verbs=create|patch,agents=spark-operator",
            "cut-watch=5s,agents=spark-operator",
        ]),
        ..Options::default()
    };
    let mut env = Env::without_operator_on(options).await;
    env.start_operator();
    create_applications(&env, "faulty", APPLICATIONS).await;
    let started = Instant::now();
    testkit::eventually(180, || async {
        let states = states(&env).await;
        let done = states.values().filter(|s| s.is_final()).count();
        (done == APPLICATIONS).then_some(())
    })
    .await;
    eprintln!(
        "{APPLICATIONS} applications ended under faults in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_exactly_once(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_resumes_within_seconds_after_an_api_server_outage() {
    let data = testkit::scratch("outage");
    let options = || Options {
        data_dir: Some(data.path().to_path_buf()),
        ..Options::default()
    };
    let mut env = Env::without_operator_on(options()).await;
    env.start_operator();
    create_applications(&env, "outage", 40).await;
    // In the middle of the burst: some applications ended, some not yet submitted.
    testkit::eventually(60, || async {
        let states = states(&env).await;
        (states.values().filter(|s| **s == State::Completed).count() >= 5).then_some(())
    })
    .await;
    env.api_server_outage(options(), Duration::from_secs(20))
        .await;
    let back = Instant::now();
    // What the API server holds as it comes back: what changes from here on is the operator's
    // doing after the outage.
    let at_return = states(&env).await;
    assert!(
        at_return.values().any(|s| !s.is_final()),
        "the outage came in the middle of the burst: {at_return:?}"
    );
    let progressed = testkit::eventually(30, || async {
        let now = states(&env).await;
        now.iter()
            .any(|(name, state)| at_return.get(name) != Some(state))
            .then(|| back.elapsed())
    })
    .await;
    eprintln!(
        "first application progressed {:.1}s after the API server's return",
        progressed.as_secs_f64()
    );
    assert!(
        progressed <= Duration::from_secs(10),
        "the operator stayed idle {progressed:?} after the API server came back"
    );
    testkit::eventually(120, || async {
        let states = states(&env).await;
        states
            .values()
            .all(|s| *s == State::Completed)
            .then_some(())
    })
    .await;
    eprintln!(
        "all 40 completed {:.1}s after the return",
        back.elapsed().as_secs_f64()
    );
    assert_exactly_once(&env).await;
}
