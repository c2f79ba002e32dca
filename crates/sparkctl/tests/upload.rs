//! `sparkctl create --upload-to s3://...` against a real S3-compatible server (moto, from PyPI,
//! which `.ci/run` installs), with the operator running on the local cluster.

use std::process::{Child, Command, Stdio};

use testkit::net::free_port;
use testkit::{Env, eventually};

const SPARKCTL: &str = env!("CARGO_BIN_EXE_sparkctl");

/// A moto S3 server on a free port, stopped on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn s3_server() -> S3Server {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    eventually(30, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    server
}

/// Runs boto3 (installed with moto) against the server and returns what the snippet prints.
fn boto3(endpoint: &str, snippet: &str) -> String {
    let program = format!(
        "import boto3\ns3 = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n{snippet}"
    );
    let output = Command::new("python3")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "boto3 failed (is moto[server] installed? `pip install 'moto[server]'`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn local_dependencies_are_uploaded_and_the_application_points_at_them() {
    let s3 = s3_server().await;
    boto3(&s3.endpoint, "s3.create_bucket(Bucket='spark-jobs')");
    let env = Env::start().await;
    let kubeconfig = env.kubeconfig_in("upload");
    let dir = env.scratch_dir("upload");
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    std::fs::write(dir.join("jobs/pi.py"), "print('pi')\n").unwrap();
    std::fs::write(dir.join("util.py"), "HELPER = 1\n").unwrap();
    let yaml = format!(
        r#"apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: uploaded
spec:
  type: Python
  mode: cluster
  image: apache/spark:4.0.0
  sparkVersion: 4.0.0
  mainApplicationFile: jobs/pi.py
  deps:
    pyFiles: ["file://{}/util.py", "local:///opt/spark/python/lib/pyspark.zip"]
  driver:
    annotations: {{"localcluster/run-seconds": "0.2"}}
  executor:
    instances: 1
"#,
        dir.display()
    );
    std::fs::write(dir.join("app.yaml"), yaml).unwrap();
    let output = tokio::process::Command::new(SPARKCTL)
        .arg("create")
        .arg("-f")
        .arg(dir.join("app.yaml"))
        .args([
            "--upload-to",
            "s3://spark-jobs/uploads",
            "--upload-endpoint",
            &s3.endpoint,
            "--wait",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("to s3a://spark-jobs/uploads/default/uploaded/pi.py"),
        "{stdout}"
    );

    let app = env.app("uploaded").await.unwrap();
    assert_eq!(
        app.spec.main_application_file.as_deref(),
        Some("s3a://spark-jobs/uploads/default/uploaded/pi.py")
    );
    assert_eq!(
        app.spec.deps.unwrap().py_files,
        [
            "s3a://spark-jobs/uploads/default/uploaded/util.py",
            "local:///opt/spark/python/lib/pyspark.zip"
        ]
    );
    let stored = boto3(
        &s3.endpoint,
        "for key in ['uploads/default/uploaded/pi.py', 'uploads/default/uploaded/util.py']:\n    print(s3.get_object(Bucket='spark-jobs', Key=key)['Body'].read().decode(), end='')",
    );
    assert_eq!(stored, "print('pi')\nHELPER = 1\n");
}

#[tokio::test]
async fn a_missing_local_file_is_named() {
    let env = Env::start().await;
    let kubeconfig = env.kubeconfig_in("upload-missing");
    let dir = env.scratch_dir("upload-missing");
    let yaml = "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {name: lost}\nspec: {type: Python, mode: cluster, sparkVersion: 4.0.0, mainApplicationFile: nowhere.py, driver: {}, executor: {}}\n";
    std::fs::write(dir.join("app.yaml"), yaml).unwrap();
    let output = tokio::process::Command::new(SPARKCTL)
        .arg("create")
        .arg("-f")
        .arg(dir.join("app.yaml"))
        .args([
            "--upload-to",
            "s3://b/p",
            "--upload-endpoint",
            "http://127.0.0.1:9",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nowhere.py"), "{stderr}");
    assert!(
        env.app("lost").await.is_none(),
        "nothing is created when the upload fails"
    );
}
