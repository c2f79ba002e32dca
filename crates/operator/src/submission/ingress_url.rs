//! The URLs of Kubeflow's Ingresses: its `--ingress-url-format` with the application's name,
//! namespace and id in place of `{{$appName}}`, `{{$appNamespace}}` and `{{$appId}}`, and the UI
//! proxy settings Spark needs when the URL has a path.

use std::sync::LazyLock;

use regex::Regex;
use spark_operator_api::SparkApplicationSpec;

use super::{SubmissionContext, SubmissionError};

static APP_NAME: LazyLock<Regex> = LazyLock::new(|| placeholder("appName"));
static APP_NAMESPACE: LazyLock<Regex> = LazyLock::new(|| placeholder("appNamespace"));
static APP_ID: LazyLock<Regex> = LazyLock::new(|| placeholder("appId"));

fn placeholder(name: &str) -> Regex {
    Regex::new(&format!(r"\{{\{{\s*\$(?:{name})\s*\}}\}}"))
        .expect("the placeholder pattern is valid")
}

/// The host and path of an Ingress URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressUrl {
    pub host: String,
    pub path: String,
}

impl std::fmt::Display for IngressUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host, self.path)
    }
}

/// The URL a format gives for an application: `{{$appName}}`, `{{$appNamespace}}` and
/// `{{$appId}}` replaced, `http://` assumed when there is no scheme.
pub fn ingress_url(format: &str, app_name: &str, namespace: &str, app_id: &str) -> IngressUrl {
    let url = APP_NAME.replace_all(format, regex::NoExpand(app_name));
    let url = APP_NAMESPACE.replace_all(&url, regex::NoExpand(namespace));
    let url = APP_ID
        .replace_all(&url, regex::NoExpand(app_id))
        .into_owned();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    match rest.find('/') {
        Some(slash) => IngressUrl {
            host: rest[..slash].to_string(),
            path: rest[slash..].to_string(),
        },
        None => IngressUrl {
            host: rest.to_string(),
            path: String::new(),
        },
    }
}

/// When the UI is served under a path, Spark has to know it (`spark.ui.proxyBase`); the user's
/// settings win.
pub fn configure_proxy_base(
    spec: &mut SparkApplicationSpec,
    app_name: &str,
    namespace: &str,
    ctx: &SubmissionContext,
) -> Result<(), SubmissionError> {
    let Some(format) = ui_ingress_format(ctx) else {
        return Ok(());
    };
    let url = ingress_url(format, app_name, namespace, &ctx.app_id);
    if !url.path.is_empty() {
        spec.spark_conf
            .entry("spark.ui.proxyBase".into())
            .or_insert(url.path);
        spec.spark_conf
            .entry("spark.ui.proxyRedirectUri".into())
            .or_insert_with(|| "/".into());
    }
    Ok(())
}

pub fn ui_ingress_format(ctx: &SubmissionContext) -> Option<&str> {
    let options = &ctx.options;
    options
        .ingress_url_format
        .as_deref()
        .filter(|format| options.enable_ui_service && !format.is_empty())
}
