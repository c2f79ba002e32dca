//! Names of the objects derived from an application or a SparkConnect. The operator creates them;
//! validation checks that a resource's name leaves room for them.

use crate::{SparkApplication, SparkConnect};
use kube::ResourceExt;

/// Kubernetes' limit for a DNS-1035 label, which Service names must be.
pub const DNS_LABEL_MAX: usize = 63;
/// Suffix of the Service in front of the driver's UI.
pub const UI_SERVICE_SUFFIX: &str = "-ui-svc";
/// The longest application name whose UI Service name is still valid.
pub const APPLICATION_NAME_MAX: usize = DNS_LABEL_MAX - UI_SERVICE_SUFFIX.len();
/// A scheduled run is named `<scheduled>-<unix seconds>`; ten digits last until the year 2286.
pub const SCHEDULED_RUN_SUFFIX_LEN: usize = 1 + 10;
/// The longest ScheduledSparkApplication name whose runs have valid names.
pub const SCHEDULED_NAME_MAX: usize = APPLICATION_NAME_MAX - SCHEDULED_RUN_SUFFIX_LEN;

/// The driver pod: `spec.driver.podName`, else `<app>-driver`.
pub fn driver_pod_name(app: &SparkApplication) -> String {
    app.spec
        .driver
        .pod_name
        .clone()
        .unwrap_or_else(|| format!("{}-driver", app.name_any()))
}

/// The Service in front of the driver's UI.
pub fn ui_service_name(app_name: &str) -> String {
    format!("{app_name}{UI_SERVICE_SUFFIX}")
}

/// The SparkApplication of the run of `scheduled` due at `unix_seconds`: deterministic, so that an
/// operator restarted mid-run finds the run it already created instead of starting it again.
pub fn scheduled_run_name(scheduled: &str, unix_seconds: i64) -> String {
    format!("{scheduled}-{unix_seconds}")
}

/// Suffix of a SparkConnect's server pod and of its default Service (Kubeflow's names).
pub const CONNECT_SERVER_SUFFIX: &str = "-server";
/// The longest SparkConnect name whose server Service name is still a valid DNS-1035 label.
pub const CONNECT_NAME_MAX: usize = DNS_LABEL_MAX - CONNECT_SERVER_SUFFIX.len();

/// The Spark Connect server pod of a SparkConnect: `<name>-server`.
pub fn connect_server_pod_name(connect: &str) -> String {
    format!("{connect}{CONNECT_SERVER_SUFFIX}")
}

/// The ConfigMap holding a SparkConnect's executor pod template: `<name>-conf`.
pub fn connect_config_map_name(connect: &str) -> String {
    format!("{connect}-conf")
}

/// The Service in front of the server: the name `spec.server.service` gives, else
/// `<name>-server`. (Kubeflow takes the given Service's name even when it is empty, and then
/// cannot create it.)
pub fn connect_service_name(connect: &SparkConnect) -> String {
    connect
        .spec
        .server
        .service
        .as_ref()
        .and_then(|service| service.metadata.name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| connect_server_pod_name(&connect.name_any()))
}

/// Whether `name` is a DNS-1035 label: lower-case letters, digits and '-', starting with a letter,
/// ending with a letter or digit, at most 63 characters.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= DNS_LABEL_MAX
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_leave_room_for_every_derived_name() {
        let longest = "a".repeat(APPLICATION_NAME_MAX);
        assert!(is_dns_label(&ui_service_name(&longest)));
        assert!(!is_dns_label(&ui_service_name(&format!("{longest}a"))));
        let scheduled = "s".repeat(SCHEDULED_NAME_MAX);
        let run = scheduled_run_name(&scheduled, 9_999_999_999);
        assert_eq!(run.len(), APPLICATION_NAME_MAX);
    }

    #[test]
    fn connect_names_leave_room_for_the_server() {
        let longest = "c".repeat(CONNECT_NAME_MAX);
        assert!(is_dns_label(&connect_server_pod_name(&longest)));
        assert!(!is_dns_label(&connect_server_pod_name(&format!(
            "{longest}c"
        ))));
        assert_eq!(connect_config_map_name("sc"), "sc-conf");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("spark-pi"));
        for bad in ["", "Spark", "1pi", "pi-", "spark.pi", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
