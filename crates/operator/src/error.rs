//! The operator's one error type. Each variant is a kind of failure the operator decides on (a
//! reconcile retries, an application fails, a process exits), so decisions match variants, never
//! messages; `metric_label` is a stable category for metrics and logs.

use std::net::SocketAddr;

use crate::submission::SubmissionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The application's spec cannot be turned into the objects of an attempt.
    #[error("building the application's objects: {0}")]
    Plan(#[from] SubmissionError),
    /// Spark's `spark-submit` could not run or did not succeed.
    #[error("{0}")]
    SparkSubmit(SparkSubmitError),
    /// An object the attempt would create exists already, made by another attempt.
    #[error(
        "{kind} {name} exists from another submission; it is deleted before the application is submitted again"
    )]
    ForeignObject { kind: String, name: String },
    /// The application's `sparkoperator.k8s.io/submitter` annotation names no submitter.
    #[error(transparent)]
    UnknownSubmitter(#[from] UnknownSubmitter),
    #[error("serializing: {0}")]
    Serialization(#[from] serde_json::Error),
    /// A setting the operator was started with cannot work.
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {address} for {what}: {source}")]
    Bind {
        address: SocketAddr,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The API server did not make a CustomResourceDefinition served in time.
    #[error("CRD {name} was not established within {seconds}s")]
    CrdNotEstablished { name: String, seconds: u64 },
    #[error("waiting for CRD {name}: {source}")]
    CrdWatch {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
    /// A task the process runs ended by panicking or being cancelled.
    #[error("{what} stopped unexpectedly: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// The operator stopped before the work began; the next operator does it. Not the
    /// application's failure.
    #[error("the operator is stopping")]
    Stopping,
}

impl From<SparkSubmitError> for Error {
    fn from(error: SparkSubmitError) -> Self {
        match error {
            SparkSubmitError::Stopping => Error::Stopping,
            SparkSubmitError::Submission(plan) => Error::Plan(plan),
            error => Error::SparkSubmit(error),
        }
    }
}

impl Error {
    /// A short category that does not change with the message.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Self::Kube(kube::Error::Api(_)) => "api",
            Self::Kube(_) => "transport",
            Self::Plan(_) => "submission",
            Self::SparkSubmit(_) => "spark_submit",
            Self::ForeignObject { .. } => "foreign_object",
            Self::UnknownSubmitter(_) => "submission",
            Self::Serialization(_) => "serialization",
            Self::Config(_) | Self::CrdNotEstablished { .. } | Self::CrdWatch { .. } => "config",
            Self::Bind { .. } => "bind",
            Self::Task { .. } => "task",
            Self::Stopping => "stopping",
        }
    }

    /// Whether the API server refused the request because another writer changed the object
    /// first: the work is simply done again on the newer object.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(status)) if status.code == 409)
    }

    /// Why a submission attempt failed, when the failure is the attempt's: it ends the attempt
    /// (SUBMISSION_FAILED, then the application's retry policy). `None` for failures that are not
    /// the attempt's (a conflict, a lost connection, a stopping operator): the reconcile is
    /// retried and the attempt is made again, with the same submission id.
    pub fn attempt_failure(&self) -> Option<String> {
        match self {
            Self::Kube(kube::Error::Api(status)) if status.code != 409 => {
                Some(status.message.clone())
            }
            Self::Plan(error) => Some(error.to_string()),
            Self::SparkSubmit(error) => Some(error.to_string()),
            Self::ForeignObject { .. } | Self::UnknownSubmitter(_) => Some(self.to_string()),
            _ => None,
        }
    }
}

/// Why spark-submit could not be run or did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SparkSubmitError {
    #[error(
        "spark-submit not found: set SPARK_HOME to a Spark 4 installation, or \
         install pyspark (`pip install pyspark==4.0.1`); {0}"
    )]
    SparkHomeMissing(String),
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    #[error("writing {path}: {error}")]
    Io { path: String, error: String },
    #[error("spark-submit did not finish within {seconds}s; its output ended with:\n{output}")]
    Timeout { seconds: u64, output: String },
    #[error("spark-submit exited with {status}; its output ended with:\n{output}")]
    Failed { status: String, output: String },
    /// Nothing was run: the operator is stopping, and the next one submits the application.
    #[error("the operator is stopping; spark-submit was not started")]
    Stopping,
}

/// The `sparkoperator.k8s.io/submitter` annotation names no submitter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "annotation {annotation}: {value:?} is not a submitter; use \"native\" or \"spark-submit\""
)]
pub struct UnknownSubmitter {
    pub annotation: &'static str,
    pub value: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
