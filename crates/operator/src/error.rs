//! The operator's one error type. Each variant is a kind of failure the operator decides on (a
//! reconcile retries, an application fails, a process exits), so decisions match variants, never
//! messages; `metric_label` is a stable category for metrics and logs.

use std::net::SocketAddr;

use crate::submission::SubmissionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A request of a submission attempt failed; `request` says which (`creating Pod NS/NAME`).
    #[error("{request}: {source}")]
    Request {
        request: String,
        #[source]
        source: kube::Error,
    },
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
    /// The application needs a kind the cluster does not serve (a batch scheduler's PodGroup).
    #[error(
        "the cluster does not serve {resource} ({api_version}): install {installed_by}, or remove the application's batchScheduler"
    )]
    KindNotServed {
        resource: String,
        api_version: String,
        installed_by: &'static str,
    },
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
            Self::Kube(error) | Self::Request { source: error, .. } => match classify(error) {
                FailureClass::Conflict => "conflict",
                _ if matches!(error, kube::Error::Api(_)) => "api",
                _ => "transport",
            },
            Self::Plan(_) => "submission",
            Self::SparkSubmit(_) => "spark_submit",
            Self::ForeignObject { .. } => "foreign_object",
            Self::KindNotServed { .. } => "kind_not_served",
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
        self.api_failure() == Some(FailureClass::Conflict)
    }

    /// How the API request behind this error failed, when an API request is behind it.
    fn api_failure(&self) -> Option<FailureClass> {
        match self {
            Self::Kube(error) | Self::Request { source: error, .. } => Some(classify(error)),
            _ => None,
        }
    }

    /// Why a submission attempt failed, when the failure is the attempt's: it ends the attempt
    /// (SUBMISSION_FAILED, then the application's retry policy). `None` for failures that are not
    /// the attempt's (a conflict, an API server or network failing for a moment, a stopping
    /// operator): the reconcile is retried with back-off and the attempt made again, with the
    /// same submission id, without counting as another attempt.
    pub fn attempt_failure(&self) -> Option<String> {
        match self {
            Self::Kube(error) if classify(error) == FailureClass::Definitive => {
                Some(describe_refusal(error))
            }
            Self::Request { request, source } if classify(source) == FailureClass::Definitive => {
                Some(format!("{request}: {}", describe_refusal(source)))
            }
            Self::Plan(error) => Some(error.to_string()),
            Self::SparkSubmit(error) => Some(error.to_string()),
            Self::ForeignObject { .. } | Self::UnknownSubmitter(_) | Self::KindNotServed { .. } => {
                Some(self.to_string())
            }
            _ => None,
        }
    }
}

/// How a failed API request counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Another writer changed the object first: the work is done again at once.
    Conflict,
    /// The API server, or the way to it, failed for a moment (5xx, 429, 408, 401, a timeout, a
    /// lost connection, an answer cut short): retried with back-off, never the application's
    /// failure.
    Transient,
    /// The API server refused the request for what it is (400, 403, 404, 422, ...): the same
    /// request would be refused again.
    Definitive,
}

/// How a request answered with HTTP status `code` failed.
///
/// 401 is the operator's credentials (a token being rotated), not the application's doing, and
/// is retried; every other 4xx but 408 (timeout), 409 and 429 (throttled) is definitive.
pub fn classify_status(code: u16) -> FailureClass {
    match code {
        409 => FailureClass::Conflict,
        401 | 408 | 429 => FailureClass::Transient,
        400..=499 => FailureClass::Definitive,
        _ => FailureClass::Transient,
    }
}

/// How a failed kube-rs request failed: by its status when the API server answered, transient
/// when the answer never came or could not be read.
pub fn classify(error: &kube::Error) -> FailureClass {
    match error {
        kube::Error::Api(status) => classify_status(status.code),
        // A request the operator could not even build would be built the same way again.
        kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => FailureClass::Definitive,
        _ => FailureClass::Transient,
    }
}

/// `403 Forbidden: <the API server's message>`.
fn describe_refusal(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.reason.is_empty() => {
            format!("{}: {}", status.code, status.message)
        }
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_class_is_classified() {
        use FailureClass::*;
        let cases = [
            (400, Definitive),
            (401, Transient),
            (403, Definitive),
            (404, Definitive),
            (405, Definitive),
            (408, Transient),
            (409, Conflict),
            (410, Definitive),
            (413, Definitive),
            (422, Definitive),
            (429, Transient),
            (500, Transient),
            (502, Transient),
            (503, Transient),
            (504, Transient),
            (599, Transient),
        ];
        for (code, class) in cases {
            assert_eq!(classify_status(code), class, "{code}");
        }
    }

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut status = kube::core::Status::failure(message, reason);
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn only_definitive_refusals_fail_an_attempt_and_they_name_the_request() {
        let refused = Error::Request {
            request: "creating Pod default/pi-driver".into(),
            source: api(403, "Forbidden", "pods \"pi-driver\" is forbidden: quota"),
        };
        assert_eq!(
            refused.attempt_failure().as_deref(),
            Some(
                "creating Pod default/pi-driver: 403 Forbidden: pods \"pi-driver\" is forbidden: quota"
            )
        );
        for transient in [500, 503, 429, 408] {
            let error = Error::Request {
                request: "creating Pod default/pi-driver".into(),
                source: api(transient, "", "try again"),
            };
            assert_eq!(error.attempt_failure(), None, "{transient}");
        }
        let conflict = Error::Kube(api(409, "Conflict", "changed"));
        assert!(conflict.is_conflict());
        assert_eq!(conflict.attempt_failure(), None);
        let unreadable = kube::Error::ReadEvents(std::io::Error::other("connection reset"));
        assert_eq!(classify(&unreadable), FailureClass::Transient);
        assert_eq!(Error::Kube(unreadable).attempt_failure(), None);
        assert_eq!(Error::Stopping.attempt_failure(), None);
    }
}
