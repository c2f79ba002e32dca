//! The operator's one error type; `metric_label` is stable, for metrics and logs.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("building the application's objects: {0}")]
    Submission(String),
    #[error("serializing: {0}")]
    Serialization(#[from] serde_json::Error),
    #[error("configuration: {0}")]
    Config(String),
    /// The operator stopped before the work began; the next operator does it. Not the
    /// application's failure.
    #[error("the operator is stopping")]
    Stopping,
}

impl Error {
    /// A short category that does not change with the message.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Self::Kube(kube::Error::Api(_)) => "api",
            Self::Kube(_) => "transport",
            Self::Submission(_) => "submission",
            Self::Serialization(_) => "serialization",
            Self::Config(_) => "config",
            Self::Stopping => "stopping",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
