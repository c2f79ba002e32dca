//! The admission webhooks through the local cluster's admission flow over HTTPS: `kubectl apply`
//! of invalid applications is denied with every problem; executor pods of an application are
//! mutated as it asks, other pods are not; webhook down with failurePolicy Fail and Ignore;
//! certificate renewal by two replicas sharing a Secret while requests keep coming.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use spark_operator::webhook::{Advertise, WebhookConfig, WebhookServer};
use spark_operator_api::SparkApplication;
use testkit::fixtures::{SparkApplicationFixture, scheduled, spark_pi};
use testkit::{Env, eventually};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const VALIDATING: &str =
    "validate-sparkoperator-k8s-io-v1beta2-sparkapplication.sparkoperator.k8s.io";

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task
            .await
            .expect("joins")
            .expect("webhook ran cleanly");
    }
}

fn config(failure_policy: &str) -> WebhookConfig {
    let mut config = WebhookConfig::new("default", Advertise::Loopback);
    config.bind_address = "127.0.0.1:0".parse().expect("address");
    config.failure_policy = failure_policy.into();
    config
}

/// Starts a webhook server and waits until its configurations are registered.
async fn start_webhook(env: &Env, config: WebhookConfig) -> Running {
    let server = WebhookServer::bind(config).await.expect("binds");
    let port = server.local_addr().expect("bound").port();
    let (stop, mut stopped) = watch::channel(false);
    let client = env.client.clone();
    let task = tokio::spawn(server.run(client, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let configs: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(env.client.clone());
    eventually(10, || {
        let configs = configs.clone();
        async move {
            let found = configs.get_opt("spark-operator-webhook").await.ok()??;
            let url = found.webhooks?.first()?.client_config.url.clone()?;
            url.contains(&format!(":{port}/")).then_some(())
        }
    })
    .await;
    Running { stop, task }
}

/// `kubectl apply` of `yaml`: success and output.
async fn kubectl_apply(env: &Env, yaml: &str) -> (bool, String) {
    env.kubectl("kubectl").apply(yaml).await
}

#[tokio::test]
async fn kubectl_apply_of_invalid_applications_is_denied_with_every_problem() {
    let env = Env::without_operator().await;
    let webhook = start_webhook(&env, config("Fail")).await;
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "bad-memory",
            "  driver:\n    memory: lots\n",
            &["spec.driver.memory", "\"lots\" is not a Spark size"],
        ),
        (
            "no-main-class",
            "  mainClass: \"\"\n",
            &["spec.mainClass", "is missing"],
        ),
        (
            "client-mode",
            "  mode: client\n",
            &["spec.mode", "client mode is not supported"],
        ),
        (
            "bad-allocation",
            "  dynamicAllocation:\n    enabled: true\n    minExecutors: 5\n    maxExecutors: 2\n",
            &[
                "spec.dynamicAllocation.minExecutors",
                "is above maxExecutors 2",
            ],
        ),
        (
            "two-problems",
            "  deps:\n    packages: [not-a-coordinate]\n  executor:\n    memory: much\n",
            &[
                "(2 problem(s))",
                "spec.deps.packages[0]",
                "spec.executor.memory",
            ],
        ),
    ];
    for (name, spec, expected) in cases {
        // Later keys replace earlier ones, so a case overrides the valid Spark Pi's.
        let yaml = spark_pi(name, "", spec);
        let (ok, output) = kubectl_apply(&env, &yaml).await;
        assert!(!ok, "{name} was accepted: {output}");
        assert!(
            output.contains(&format!(
                "admission webhook \"{VALIDATING}\" denied the request: SparkApplication default/{name} is invalid"
            )),
            "{name}: {output}"
        );
        for text in expected {
            assert!(output.contains(text), "{name}: {text:?} not in {output}");
        }
    }
    let sometimes = scheduled(
        "sometimes",
        "every now and then",
        "",
        &spark_pi("sometimes", "", ""),
    );
    let (ok, output) = kubectl_apply(&env, &sometimes).await;
    assert!(
        !ok && output
            .contains("denied the request: ScheduledSparkApplication default/sometimes is invalid"),
        "{output}"
    );
    assert!(output.contains("spec.schedule"), "{output}");
    let (ok, output) = kubectl_apply(&env, &spark_pi("fine", "", "")).await;
    assert!(ok, "a valid application is accepted: {output}");

    // SparkConnect, as Kubeflow's webhook checks it: the example is admitted; without an image
    // for its executors and with a stolen token it is denied with both problems.
    let example =
        std::fs::read_to_string(testkit::repository().join("examples/spark-connect.yaml")).unwrap();
    let (ok, output) = kubectl_apply(&env, &example).await;
    assert!(ok, "the SparkConnect example is accepted: {output}");
    let broken = example
        .replace("name: spark-connect\n", "name: broken-connect\n")
        .replace(
            "          - name: spark-kubernetes-executor\n            image: apache/spark:4.0.0\n",
            "          - name: spark-kubernetes-executor\n",
        )
        .replace(
            "  sparkVersion: 4.0.0\n",
            "  sparkVersion: 4.0.0\n  sparkConf:\n    spark.kubernetes.authenticate.oauthToken: stolen\n",
        );
    let (ok, output) = kubectl_apply(&env, &broken).await;
    assert!(
        !ok && output.contains(
            "denied the request: SparkConnect default/broken-connect is invalid (2 problem(s))"
        ),
        "{output}"
    );
    for text in [
        "spec.image: is not set, and spec.executor.template",
        "spec.sparkConf[spark.kubernetes.authenticate.oauthToken]",
    ] {
        assert!(output.contains(text), "{text:?} not in {output}");
    }
    webhook.stop().await;
}

#[tokio::test]
async fn executor_pods_are_mutated_as_the_application_asks_and_other_pods_are_not() {
    let env = Env::start().await;
    let webhook = start_webhook(&env, config("Fail")).await;
    let extra = r#"  volumes:
    - name: scratch
      emptyDir: {}
  executor:
    instances: 1
    env: [{name: FROM_APP, value: "yes"}]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
    tolerations: [{key: dedicated, operator: Equal, value: spark, effect: NoSchedule}]
    securityContext: {runAsNonRoot: true}
    sidecars: [{name: logger, image: busybox}]
    terminationGracePeriodSeconds: 9
    gpu: {name: example.com/gpu, quantity: 1}
    labels: {team: data}"#;
    let yaml = spark_pi("mutated", "localcluster/run-seconds: \"20\"", "");
    // The executor section of spark_pi is replaced by the one above.
    let yaml = yaml.replace(
        "  executor:\n    instances: 2\n    cores: 1\n    memory: 512m\n",
        "",
    );
    let (ok, output) = kubectl_apply(&env, &format!("{yaml}{extra}\n")).await;
    assert!(ok, "{output}");
    let pods = env.pods();
    let executor: Pod = eventually(30, || {
        let pods = pods.clone();
        async move {
            pods.get_opt("mutated-driver").await.ok()?;
            pods.list(
                &kube::api::ListParams::default()
                    .labels("sparkoperator.k8s.io/app-name=mutated,spark-role=executor"),
            )
            .await
            .ok()?
            .items
            .into_iter()
            .next()
        }
    })
    .await;
    let pod = serde_json::to_value(&executor).expect("pod as JSON");
    let spec = &pod["spec"];
    let spark = &spec["containers"][0];
    assert_eq!(spark["name"], "spark-kubernetes-executor");
    assert!(
        spark["env"].as_array().is_some_and(|env| env
            .iter()
            .any(|e| e["name"] == "FROM_APP" && e["value"] == "yes")),
        "{spark}"
    );
    assert!(
        spark["env"]
            .as_array()
            .is_some_and(|env| env.iter().any(|e| e["name"] == "SPARK_EXECUTOR_ID")),
        "the pod's own env is kept"
    );
    assert!(
        spark["volumeMounts"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["mountPath"] == "/scratch")),
        "{spark}"
    );
    assert_eq!(spark["securityContext"]["runAsNonRoot"], true);
    assert_eq!(spark["resources"]["limits"]["example.com/gpu"], "1");
    assert!(
        spec["volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["name"] == "scratch")),
        "{spec}"
    );
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");
    assert_eq!(spec["containers"][1]["name"], "logger");
    assert_eq!(spec["terminationGracePeriodSeconds"], 9);
    // An unmanaged pod with the application's name label is left alone.
    let plain: Pod = serde_json::from_value(json!({"metadata": {"name": "plain",
        "labels": {"sparkoperator.k8s.io/app-name": "mutated", "spark-role": "executor"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &plain)
        .await
        .expect("created");
    let spec = created.spec.expect("spec");
    assert_eq!(spec.containers.len(), 1);
    assert!(
        spec.tolerations
            .unwrap_or_default()
            .iter()
            .all(|t| t.key.as_deref() != Some("dedicated"))
    );
    webhook.stop().await;
}

#[tokio::test]
async fn webhook_down_with_fail_rejects_and_with_ignore_admits() {
    let env = Env::without_operator().await;
    start_webhook(&env, config("Fail")).await.stop().await;
    let (ok, output) = kubectl_apply(&env, &spark_pi("while-down", "", "")).await;
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!("Internal error occurred: failed calling webhook \"{VALIDATING}\": failed to call webhook: Post \"https://127.0.0.1:")),
        "{output}"
    );
    start_webhook(&env, config("Ignore")).await.stop().await;
    let (ok, output) = kubectl_apply(&env, &spark_pi("while-down", "", "")).await;
    assert!(
        ok,
        "failurePolicy Ignore admits while the webhook is down: {output}"
    );
}

#[tokio::test]
async fn certificate_renewal_while_serving_drops_no_request() {
    let env = Env::without_operator().await;
    let short = |mut config: WebhookConfig| {
        config.cert_validity = Duration::from_secs(6);
        config.check_interval = Duration::from_millis(200);
        config
    };
    // Two replicas share the Secret (and take turns registering their own address).
    let first = start_webhook(&env, short(config("Fail"))).await;
    let second = start_webhook(&env, short(config("Fail"))).await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "default");
    let read = |secret: Secret| {
        let data = secret.data.unwrap_or_default();
        let text = |k: &str| {
            data.get(k)
                .map(|v| String::from_utf8_lossy(&v.0).to_string())
        };
        (text("ca-cert.pem"), text("server-cert.pem"))
    };
    let (ca, mut cert) = read(
        secrets
            .get("spark-operator-webhook-certs")
            .await
            .expect("secret"),
    );
    let apps: Api<SparkApplication> = Api::namespaced(env.client.clone(), "default");
    let app = SparkApplication::spark_pi("renewal");
    let bad =
        SparkApplication::spark_pi("renewal-bad").with(|bad| bad.spec.main_class = Some("".into()));
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let (mut renewals, mut requests) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        apps.create(&dry, &app)
            .await
            .expect("a valid request is admitted during renewal");
        let denied = apps
            .create(&dry, &bad)
            .await
            .expect_err("an invalid one is denied");
        assert!(denied.to_string().contains("spec.mainClass"), "{denied}");
        requests += 2;
        let (now_ca, now_cert) = read(
            secrets
                .get("spark-operator-webhook-certs")
                .await
                .expect("secret"),
        );
        assert_eq!(now_ca, ca, "the CA is kept");
        if now_cert != cert {
            renewals += 1;
            cert = now_cert;
        }
    }
    assert!(renewals >= 2, "renewed {renewals} times in 10s");
    assert!(requests > 20, "{requests} requests");
    first.stop().await;
    second.stop().await;
}

/// A change that makes a valid application invalid.
type Malform = fn(&mut serde_json::Value);

/// The problem lines (`spec.x: what to do`) of a verdict, whatever wraps them.
fn problem_lines(verdict: &str) -> std::collections::BTreeSet<String> {
    // The webhook's denial is one line, its problems separated by "; ".
    verdict
        .replace("; spec.", "\nspec.")
        .lines()
        // The webhook's denial puts a single problem on the line that introduces it.
        .map(|line| {
            line.rsplit_once("problem(s)): ")
                .map_or(line, |(_, rest)| rest)
                .trim()
        })
        .filter(|line| line.starts_with("spec.") || line.starts_with("metadata."))
        .map(str::to_string)
        .collect()
}

/// One malformed corpus, the same verdicts: the controller (the application ends FAILED), the
/// validating webhook (kubectl apply is denied) and `spark-operator validate` name the same
/// problems, each with the same words. Each case passes the CRD's schema, so the API server
/// itself lets it through to the operator's rules.
#[tokio::test]
async fn the_controller_the_webhook_and_validate_give_one_verdict() {
    let corpus: [(&str, Malform); 6] = [
        ("pull-policy", |a| {
            a["spec"]["imagePullPolicy"] = json!("Whenever")
        }),
        ("image", |a| {
            a["spec"]["image"] = json!("apache/spärk:4.0.0")
        }),
        ("account", |a| {
            a["spec"]["driver"]["serviceAccount"] = json!("spark_driver")
        }),
        ("memory", |a| {
            a["spec"]["executor"]["memory"] = json!("lots")
        }),
        ("instances", |a| {
            a["spec"]["executor"]["instances"] = json!(0)
        }),
        ("two", |a| {
            a["spec"]["executor"]["image"] = json!("Apache/Spark");
            a["spec"]["driver"]["memory"] = json!("0g");
        }),
    ];
    let documents: Vec<(String, String)> = corpus
        .iter()
        .map(|(name, change)| {
            let mut app = serde_json::to_value(SparkApplication::spark_pi(name)).unwrap();
            change(&mut app);
            (name.to_string(), serde_yaml::to_string(&app).unwrap())
        })
        .collect();

    let mut env = Env::without_operator().await;
    let kubectl = env.kubectl("verdicts");
    let file = kubectl.file(
        "corpus.yaml",
        &documents
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join("---\n"),
    );
    let validated = std::process::Command::new(env!("CARGO_BIN_EXE_spark-operator"))
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!validated.status.success());
    let validated = String::from_utf8_lossy(&validated.stdout).into_owned();
    let by_validate: std::collections::BTreeMap<String, _> = validated
        .split(&format!("{}: ", file.display()))
        .filter_map(|section| {
            let name = section
                .strip_prefix("SparkApplication ")?
                .split(':')
                .next()?;
            Some((name.to_string(), problem_lines(section)))
        })
        .collect();

    env.start_operator();
    for (_, document) in &documents {
        env.create(document).await;
    }
    for (name, _) in &documents {
        let app = env
            .wait_for(name, spark_operator_api::ApplicationStateType::Failed, 30)
            .await;
        let controller =
            problem_lines(&app.status.unwrap().application_state.error_message.unwrap());
        assert!(!controller.is_empty(), "{name}");
        assert_eq!(
            Some(&controller),
            by_validate.get(name),
            "{name}: the controller and validate"
        );
    }
    env.stop_operator().await;

    let webhook = start_webhook(&env, config("Fail")).await;
    for (name, document) in &documents {
        let (ok, output) = kubectl_apply(
            &env,
            &document.replace(&format!("name: {name}\n"), &format!("name: {name}-again\n")),
        )
        .await;
        assert!(!ok, "{name} was admitted: {output}");
        assert_eq!(
            Some(&problem_lines(&output)),
            by_validate.get(name),
            "{name}: the webhook and validate:\n{output}"
        );
    }
    webhook.stop().await;
}
