//! Submission through Spark's own `$SPARK_HOME/bin/spark-submit`, as Kubeflow's operator does it:
//! the arguments of `spark_submit_args`, the pod template files of `pod_template_files` written
//! first, and the process's output kept for the application's error message when it fails.
//!
//! Runs are bounded (at most `max_concurrent` at once: each costs a JVM and about 3.5 s of CPU)
//! and killed after `timeout`. Once the operator stops, runs still waiting for their turn give up
//! instead of starting, so a graceful stop waits for at most the runs under way. The child gets
//! `SPARK_USER` (the user the driver runs as, as in Kubeflow's image), an empty `SPARK_CONF_DIR`
//! (spark-submit copies that directory into the driver's ConfigMap; Kubeflow's image has none)
//! and, when configured, `KUBECONFIG`, which its Kubernetes client (fabric8) reads for the API
//! server's CA and credentials.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use spark_operator_api::SparkApplication;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::SparkSubmitOptions;
use crate::error::SparkSubmitError;
use crate::submission::{SubmissionContext, pod_template_files, spark_submit_args};

/// How many lines of spark-submit's output a failure keeps.
const KEPT_OUTPUT_LINES: usize = 30;

/// What a successful run printed.
#[derive(Debug, Clone)]
pub struct SparkSubmitOutput {
    pub args: Vec<String>,
    pub output: String,
}

/// Runs spark-submit for applications, a bounded number at a time.
#[derive(Debug, Clone)]
pub struct SparkSubmitter {
    spark_home: PathBuf,
    options: SparkSubmitOptions,
    permits: Arc<Semaphore>,
    stopping: CancellationToken,
}

impl SparkSubmitter {
    /// A submitter over the configured or found Spark installation; an error that says how to
    /// get one when there is none.
    pub fn new(options: SparkSubmitOptions) -> Result<Self, SparkSubmitError> {
        let spark_home = find_spark_home(options.spark_home.as_deref())?;
        let permits = Arc::new(Semaphore::new(options.max_concurrent.max(1)));
        Ok(Self {
            spark_home,
            options,
            permits,
            stopping: CancellationToken::new(),
        })
    }

    /// The submitter whose runs not yet started give up once `stopping` is cancelled.
    pub fn stopping_with(self, stopping: CancellationToken) -> Self {
        Self { stopping, ..self }
    }

    pub fn spark_home(&self) -> &Path {
        &self.spark_home
    }

    /// Submits attempt `ctx` of `app`: writes the pod template files, runs spark-submit with
    /// `spark_submit_args`, and removes the files again.
    pub async fn submit(
        &self,
        app: &SparkApplication,
        ctx: &SubmissionContext,
    ) -> Result<SparkSubmitOutput, SparkSubmitError> {
        let args = spark_submit_args(app, ctx)?;
        let files = pod_template_files(app, ctx)?;
        let _permit = tokio::select! {
            biased;
            _ = self.stopping.cancelled() => return Err(SparkSubmitError::Stopping),
            permit = self.permits.acquire() => permit.ok(),
        };
        let dir = PathBuf::from(&ctx.options.pod_template_dir).join(&ctx.submission_id);
        let conf_dir = dir.join("conf");
        create_dir(&conf_dir).await?;
        for file in &files {
            let path = Path::new(&file.path);
            if let Some(parent) = path.parent() {
                create_dir(parent).await?;
            }
            tokio::fs::write(path, &file.contents)
                .await
                .map_err(|e| io_error(path, e))?;
        }
        // Spark takes the driver's SPARK_USER from the submitter's: the proxy user when there is
        // one (spark-submit runs as it), else this variable, set to the user Kubeflow's image
        // runs spark-submit as.
        let proxied = app.spec.proxy_user.as_ref().is_some_and(|u| !u.is_empty());
        let spark_user = (!proxied).then_some(ctx.options.spark_user.as_str());
        let result = self.run(&args, &conf_dir, spark_user).await;
        // The files were read by the time spark-submit exits; a failure to remove them is harmless.
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result.map(|output| SparkSubmitOutput { args, output })
    }

    async fn run(
        &self,
        args: &[String],
        conf_dir: &Path,
        spark_user: Option<&str>,
    ) -> Result<String, SparkSubmitError> {
        let program = self.spark_home.join("bin").join("spark-submit");
        let mut command = tokio::process::Command::new(&program);
        command
            .args(args)
            .env("SPARK_HOME", &self.spark_home)
            .env("SPARK_CONF_DIR", conf_dir)
            .env_remove("SPARK_USER")
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(user) = spark_user {
            command.env("SPARK_USER", user);
        }
        if let Some(options) = &self.options.java_options {
            command.env("JAVA_TOOL_OPTIONS", options);
        }
        if let Some(kubeconfig) = &self.options.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let mut child = command.spawn().map_err(|e| {
            SparkSubmitError::SparkHomeMissing(format!("{}: {e}", program.display()))
        })?;
        let stdout = read_pipe(child.stdout.take());
        let stderr = read_pipe(child.stderr.take());
        let status = tokio::time::timeout(self.options.timeout, child.wait()).await;
        if status.is_err() {
            let _ = child.kill().await;
        }
        let mut output = Vec::new();
        for task in [stdout, stderr] {
            if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(5), task).await {
                output.extend(bytes);
            }
        }
        let output = String::from_utf8_lossy(&output).into_owned();
        match status {
            Err(_) => Err(SparkSubmitError::Timeout {
                seconds: self.options.timeout.as_secs(),
                output: tail(&output),
            }),
            Ok(Err(error)) => Err(SparkSubmitError::Failed {
                status: error.to_string(),
                output: tail(&output),
            }),
            Ok(Ok(status)) if status.success() => Ok(output),
            Ok(Ok(status)) => Err(SparkSubmitError::Failed {
                status: status.to_string(),
                output: tail(&output),
            }),
        }
    }
}

/// `configured` if given, else `$SPARK_HOME`, else the directory of the installed `pyspark`
/// package (which ships `bin/spark-submit` and Spark's jars); each must hold `bin/spark-submit`.
pub fn find_spark_home(configured: Option<&Path>) -> Result<PathBuf, SparkSubmitError> {
    let has_submit = |dir: &Path| dir.join("bin").join("spark-submit").is_file();
    if let Some(dir) = configured {
        return if has_submit(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(SparkSubmitError::SparkHomeMissing(format!(
                "{} has no bin/spark-submit",
                dir.display()
            )))
        };
    }
    if let Some(dir) = std::env::var_os("SPARK_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_submit(&dir) {
            Ok(dir)
        } else {
            Err(SparkSubmitError::SparkHomeMissing(format!(
                "SPARK_HOME={} has no bin/spark-submit",
                dir.display()
            )))
        };
    }
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .stderr(Stdio::null())
        .output();
    match probe {
        Ok(output) if output.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if has_submit(&dir) {
                Ok(dir)
            } else {
                Err(SparkSubmitError::SparkHomeMissing(format!(
                    "pyspark at {} has no bin/spark-submit",
                    dir.display()
                )))
            }
        }
        _ => Err(SparkSubmitError::SparkHomeMissing(
            "SPARK_HOME is not set and python3 cannot import pyspark".into(),
        )),
    }
}

/// Reads a pipe to its end in a task of its own.
fn read_pipe<R>(pipe: Option<R>) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes).await;
        }
        bytes
    })
}

/// The last lines of the output, which say why spark-submit failed; Java stack frames are left
/// out so that the exceptions and their causes fit.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|line| {
            !line.trim_start().starts_with("at ") && !line.trim_start().starts_with("... ")
        })
        .collect();
    let start = lines.len().saturating_sub(KEPT_OUTPUT_LINES);
    lines[start..].join("\n")
}

async fn create_dir(path: &Path) -> Result<(), SparkSubmitError> {
    tokio::fs::create_dir_all(path)
        .await
        .map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, error: std::io::Error) -> SparkSubmitError {
    SparkSubmitError::Io {
        path: path.display().to_string(),
        error: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_the_last_lines() {
        let output: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let kept = tail(&output);
        assert!(kept.starts_with("line 70"), "{kept}");
        assert!(kept.ends_with("line 99"));
        let trace =
            "Exception in thread main: boom\n\tat a.B.c(B.java:1)\n\t... 3 more\nCaused by: x";
        assert_eq!(tail(trace), "Exception in thread main: boom\nCaused by: x");
    }

    #[test]
    fn a_configured_home_without_spark_submit_is_reported() {
        let error = find_spark_home(Some(Path::new("/nonexistent/spark"))).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/nonexistent/spark"), "{message}");
        assert!(message.contains("pip install pyspark"), "{message}");
    }
}
