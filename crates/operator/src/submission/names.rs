//! Names, labels and identifiers of the objects of one submission, as Spark and Kubeflow derive
//! them, except that every random part is derived from the submission id instead.

use md5::Md5;
use sha2::{Digest, Sha256};

/// Kubernetes' limit for DNS-1123 labels (Service names, label values).
pub const DNS_LABEL_MAX: usize = 63;
/// Kubernetes' limit for DNS-1123 subdomains (most object names).
pub const DNS_SUBDOMAIN_MAX: usize = 253;

/// Labels Spark puts on its pods.
pub const LABEL_SPARK_APP_SELECTOR: &str = "spark-app-selector";
pub const LABEL_SPARK_ROLE: &str = "spark-role";
pub const LABEL_SPARK_VERSION: &str = "spark-version";
pub const LABEL_SPARK_APP_NAME: &str = "spark-app-name";
pub const ROLE_DRIVER: &str = "driver";
pub const ROLE_EXECUTOR: &str = "executor";

/// Labels Kubeflow's operator puts on the pods and objects of an application.
pub const LABEL_APP_NAME: &str = "sparkoperator.k8s.io/app-name";
pub const LABEL_SUBMISSION_ID: &str = "sparkoperator.k8s.io/submission-id";
pub const LABEL_LAUNCHED_BY: &str = "sparkoperator.k8s.io/launched-by-spark-operator";
pub const LABEL_MUTATED_BY: &str = "sparkoperator.k8s.io/mutated-by-spark-operator";
pub const LABEL_CREATED_BY: &str = "sparkoperator.k8s.io/created-by-spark-operator";
/// Labels of Kueue, which Kubeflow does not copy from the application to its pods.
pub const KUEUE_LABEL_PREFIX: &str = "kueue.x-k8s.io/";

/// Container names Spark and Kubeflow agree on.
pub const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
pub const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

const DRIVER_SERVICE_SUFFIX: &str = "-driver-svc";
const CONF_MAP_SUFFIX: &str = "-conf-map";
const POD_TEMPLATE_CONF_MAP_SUFFIX: &str = "-driver-podspec-conf-map";

/// `n` hex characters derived from the submission id and a purpose, so that every "random" part
/// of a submission is the same each time the same attempt is planned.
pub fn derived_hex(submission_id: &str, purpose: &str, n: usize) -> String {
    let mut hex = String::with_capacity(n);
    let mut counter = 0u32;
    while hex.len() < n {
        let digest = Sha256::new()
            .chain_update(purpose.as_bytes())
            .chain_update([0u8])
            .chain_update(submission_id.as_bytes())
            .chain_update(counter.to_be_bytes())
            .finalize();
        hex.push_str(&to_hex(&digest));
        counter += 1;
    }
    hex.truncate(n);
    hex
}

/// A UUID-shaped string (8-4-4-4-12 hex digits) derived like `derived_hex`.
pub fn derived_uuid(submission_id: &str, purpose: &str) -> String {
    let hex = derived_hex(submission_id, purpose, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Spark's resource name prefix, `<appName>-<uniqueId>` made a valid name: lower-cased, every
/// character outside `[a-z0-9-]` replaced by `-`, runs of `-` collapsed, a leading `-` removed and
/// a leading digit replaced by `x`.
pub fn resource_name_prefix(app_name: &str, unique_id: &str) -> String {
    let raw = format!("{app_name}-{unique_id}");
    let sanitized = collapse_dashes(&sanitize(raw.trim()));
    let without_dash = sanitized.strip_prefix('-').unwrap_or(&sanitized);
    match without_dash.chars().next() {
        Some(first) if first.is_ascii_digit() => format!("x{}", &without_dash[1..]),
        _ => without_dash.to_string(),
    }
}

/// Spark's `spark-app-name` label: the name sanitised like the resource prefix, cut to 63
/// characters, with one leading and one trailing `-` removed.
pub fn app_name_label(app_name: &str) -> String {
    let sanitized = collapse_dashes(&sanitize(app_name.trim()));
    let cut: String = sanitized.chars().take(DNS_LABEL_MAX).collect();
    let cut = cut.strip_prefix('-').unwrap_or(&cut);
    cut.strip_suffix('-').unwrap_or(cut).to_string()
}

fn sanitize(value: &str) -> String {
    value
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn collapse_dashes(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// The headless driver Service: `<prefix>-driver-svc`, or `spark-<uniqueId>-driver-svc` when that
/// is longer than a DNS label allows.
pub fn driver_service_name(resource_prefix: &str, unique_id: &str) -> String {
    let preferred = format!("{resource_prefix}{DRIVER_SERVICE_SUFFIX}");
    if preferred.len() <= DNS_LABEL_MAX {
        preferred
    } else {
        format!("spark-{unique_id}{DRIVER_SERVICE_SUFFIX}")
    }
}

/// The driver's ConfigMap holding `spark.properties`: `spark-drv-<uniqueId>-conf-map`.
pub fn driver_config_map_name(unique_id: &str) -> String {
    let prefix = format!("spark-drv-{unique_id}");
    let room = DNS_SUBDOMAIN_MAX - CONF_MAP_SUFFIX.len();
    let cut: String = prefix.chars().take(room).collect();
    format!("{cut}{CONF_MAP_SUFFIX}")
}

/// The ConfigMap carrying the executor pod template: `<prefix>-driver-podspec-conf-map`.
pub fn pod_template_config_map_name(resource_prefix: &str) -> String {
    format!("{resource_prefix}{POD_TEMPLATE_CONF_MAP_SUFFIX}")
}

/// Kubeflow's name for an object derived from the application: `<app>-<suffix>`, or, past 63
/// characters, the name cut short with the first 8 hex digits of the MD5 of the preferred name.
pub fn kubeflow_generated_name(app_name: &str, suffix: &str) -> String {
    let preferred = format!("{app_name}-{suffix}");
    if preferred.len() <= DNS_LABEL_MAX {
        return preferred;
    }
    let keep = DNS_LABEL_MAX.saturating_sub(suffix.len() + 10);
    let hash = to_hex(&Md5::digest(preferred.as_bytes()));
    let head: String = app_name.chars().take(keep).collect();
    format!("{head}-{}-{suffix}", &hash[..8])
}

/// Kubeflow's volume name for a mounted ConfigMap: `<name>-vol`, or, when that is too long or has
/// dots (volume names are DNS labels), a cut and sanitised name with a SHA-256 suffix.
pub fn config_map_volume_name(config_map: &str) -> String {
    const SUFFIX: &str = "-vol";
    let preferred = format!("{config_map}{SUFFIX}");
    if preferred.len() <= DNS_LABEL_MAX && !preferred.contains('.') {
        return preferred;
    }
    let hash = to_hex(&Sha256::digest(config_map.as_bytes()));
    let hashed_suffix = format!("-{}{SUFFIX}", &hash[..8]);
    let room = DNS_LABEL_MAX - hashed_suffix.len();
    let sanitized: String = config_map.replace('.', "-").chars().take(room).collect();
    format!("{}{hashed_suffix}", sanitized.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_are_stable_and_distinct_per_purpose() {
        let a = derived_hex("attempt-1", "unique-id", 16);
        assert_eq!(a, derived_hex("attempt-1", "unique-id", 16));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, derived_hex("attempt-2", "unique-id", 16));
        assert_ne!(a, derived_hex("attempt-1", "app-id", 16));
        assert_eq!(derived_hex("x", "long", 100).len(), 100);
        let uuid = derived_uuid("attempt-1", "local-dir");
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.matches('-').count(), 4);
    }

    #[test]
    fn resource_prefix_is_sanitised_as_spark_does() {
        assert_eq!(resource_name_prefix("spark-pi", "abc"), "spark-pi-abc");
        assert_eq!(resource_name_prefix("My.App__x", "0a"), "my-app-x-0a");
        assert_eq!(resource_name_prefix("-lead", "1"), "lead-1");
        assert_eq!(resource_name_prefix("9lives", "1"), "xlives-1");
    }

    #[test]
    fn app_name_label_is_cut_to_a_label() {
        assert_eq!(app_name_label("Spark Pi"), "spark-pi");
        let long = format!("{}-", "a".repeat(62));
        assert_eq!(app_name_label(&long), "a".repeat(62));
        assert_eq!(app_name_label(&"b".repeat(80)).len(), 63);
    }

    #[test]
    fn driver_service_name_falls_back_when_too_long() {
        assert_eq!(
            driver_service_name("spark-pi-0123", "0123"),
            "spark-pi-0123-driver-svc"
        );
        let prefix = format!("{}-0123456789abcdef", "a".repeat(50));
        assert_eq!(
            driver_service_name(&prefix, "0123456789abcdef"),
            "spark-0123456789abcdef-driver-svc"
        );
    }

    #[test]
    fn kubeflow_names_get_a_hash_past_63_characters() {
        assert_eq!(kubeflow_generated_name("pi", "ui-ingress"), "pi-ui-ingress");
        let long = "a".repeat(60);
        let name = kubeflow_generated_name(&long, "ui-ingress");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-ui-ingress"));
        assert_eq!(name, kubeflow_generated_name(&long, "ui-ingress"));
    }

    #[test]
    fn config_map_volume_names_are_labels() {
        assert_eq!(config_map_volume_name("settings"), "settings-vol");
        let dotted = config_map_volume_name("my.settings");
        assert!(
            dotted.starts_with("my-settings-") && dotted.ends_with("-vol"),
            "{dotted}"
        );
        let long = config_map_volume_name(&"c".repeat(100));
        assert_eq!(long.len(), 63);
    }
}
