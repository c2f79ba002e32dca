//! Prometheus monitoring as Kubeflow's operator configures it before submitting: the JMX exporter
//! java agent, scrape annotations, Spark's metrics configuration, and the `<app>-prom-conf`
//! ConfigMap that holds `metrics.properties` and the exporter's `prometheus.yaml`.

use std::collections::BTreeMap;

use spark_operator_api::{MonitoringSpec, SparkApplicationSpec};

/// Where the Prometheus ConfigMap is mounted in the Spark containers.
pub const MOUNT_PATH: &str = "/etc/metrics/conf";
pub const METRICS_PROPERTIES_KEY: &str = "metrics.properties";
pub const PROMETHEUS_CONFIG_KEY: &str = "prometheus.yaml";
pub const DEFAULT_PORT: i32 = 8090;
pub const DEFAULT_PORT_NAME: &str = "jmx-exporter";
pub const PORT_PROTOCOL: &str = "TCP";

/// Spark's metrics configuration when the application gives none: JMX sink, JVM sources.
pub const DEFAULT_METRICS_PROPERTIES: &str = "
*.sink.jmx.class=org.apache.spark.metrics.sink.JmxSink
driver.source.jvm.class=org.apache.spark.metrics.source.JvmSource
executor.source.jvm.class=org.apache.spark.metrics.source.JvmSource";

/// The JMX exporter rules when the application gives none; the metric names and labels are the
/// ones Kubeflow's dashboards expect.
pub const DEFAULT_PROMETHEUS_CONFIG: &str = r#"
lowercaseOutputName: true
attrNameSnakeCase: true
rules:
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.(BlockManager|DAGScheduler|jvm)\.(\S+)><>Value
    name: spark_driver_$3_$4
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.(\S+)\.StreamingMetrics\.streaming\.(\S+)><>Value
    name: spark_streaming_driver_$4
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.spark\.streaming\.(\S+)\.(.*)><>Value
    name: spark_structured_streaming_driver_$4
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
      query_name: "$3"
  - pattern: metrics<name=(\S+)\.(\S+)\.(\S+)\.executor\.(\S+)><>Value
    name: spark_executor_$4
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
      executor_id: "$3"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.DAGScheduler\.(.*)><>Count
    name: spark_driver_DAGScheduler_$3_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.HiveExternalCatalog\.(.*)><>Count
    name: spark_driver_HiveExternalCatalog_$3_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.CodeGenerator\.(.*)><>Count
    name: spark_driver_CodeGenerator_$3_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.LiveListenerBus\.(.*)><>Count
    name: spark_driver_LiveListenerBus_$3_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.driver\.LiveListenerBus\.(.*)><>Value
    name: spark_driver_LiveListenerBus_$3
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
  - pattern: metrics<name=(\S+)\.(\S+)\.(.*)\.executor\.(.*)><>Count
    name: spark_executor_$4_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
      executor_id: "$3"
  - pattern: metrics<name=(\S+)\.(\S+)\.([0-9]+)\.(jvm|NettyBlockTransfer)\.(.*)><>Value
    name: spark_executor_$4_$5
    type: GAUGE
    labels:
      app_namespace: "$1"
      app_id: "$2"
      executor_id: "$3"
  - pattern: metrics<name=(\S+)\.(\S+)\.([0-9]+)\.HiveExternalCatalog\.(.*)><>Count
    name: spark_executor_HiveExternalCatalog_$4_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
      executor_id: "$3"
  - pattern: metrics<name=(\S+)\.(\S+)\.([0-9]+)\.CodeGenerator\.(.*)><>Count
    name: spark_executor_CodeGenerator_$4_count
    type: COUNTER
    labels:
      app_namespace: "$1"
      app_id: "$2"
      executor_id: "$3"
"#;

/// The Prometheus monitoring of an application, if it asks for Prometheus.
pub struct Prometheus<'a> {
    spec: &'a MonitoringSpec,
}

impl<'a> Prometheus<'a> {
    pub fn of(spec: &'a SparkApplicationSpec) -> Option<Self> {
        let monitoring = spec.monitoring.as_ref()?;
        monitoring.prometheus.as_ref()?;
        Some(Self { spec: monitoring })
    }

    pub fn port(&self) -> i32 {
        self.spec
            .prometheus
            .as_ref()
            .and_then(|p| p.port)
            .unwrap_or(DEFAULT_PORT)
    }

    pub fn port_name(&self) -> String {
        self.spec
            .prometheus
            .as_ref()
            .and_then(|p| p.port_name.clone())
            .unwrap_or_else(|| DEFAULT_PORT_NAME.to_string())
    }

    fn metrics_properties_file(&self) -> Option<&str> {
        self.spec
            .metrics_properties_file
            .as_deref()
            .filter(|f| !f.is_empty())
    }

    fn prometheus_config_file(&self) -> Option<&str> {
        self.spec
            .prometheus
            .as_ref()?
            .config_file
            .as_deref()
            .filter(|f| !f.is_empty())
    }

    /// Whether the configuration comes (at least in part) from the operator's ConfigMap rather
    /// than from files in the image.
    pub fn needs_config_map(&self) -> bool {
        self.metrics_properties_file().is_none() || self.prometheus_config_file().is_none()
    }

    /// The pods of this role get the ConfigMap mounted and the exporter port declared.
    pub fn exposes(&self, driver: bool) -> bool {
        let exposed = if driver {
            self.spec.expose_driver_metrics
        } else {
            self.spec.expose_executor_metrics
        };
        exposed && self.needs_config_map()
    }

    /// The contents of the `<app>-prom-conf` ConfigMap.
    pub fn config_map_data(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        if self.metrics_properties_file().is_none() {
            let properties = self
                .spec
                .metrics_properties
                .clone()
                .unwrap_or_else(|| DEFAULT_METRICS_PROPERTIES.to_string());
            data.insert(METRICS_PROPERTIES_KEY.to_string(), properties);
        }
        if self.prometheus_config_file().is_none() {
            let config = self
                .spec
                .prometheus
                .as_ref()
                .and_then(|p| p.configuration.clone())
                .unwrap_or_else(|| DEFAULT_PROMETHEUS_CONFIG.to_string());
            data.insert(PROMETHEUS_CONFIG_KEY.to_string(), config);
        }
        data
    }

    fn java_agent_option(&self) -> String {
        let jar = self
            .spec
            .prometheus
            .as_ref()
            .map(|p| p.jmx_exporter_jar.as_str())
            .unwrap_or_default();
        let config = match self.prometheus_config_file() {
            Some(file) => file.to_string(),
            None => format!("{MOUNT_PATH}/{PROMETHEUS_CONFIG_KEY}"),
        };
        format!("-javaagent:{jar}={}:{config}", self.port())
    }
}

/// Rewrites the spec as Kubeflow does before building the spark-submit arguments: metrics
/// configuration in `sparkConf` (replacing the user's), scrape annotations and the java agent on
/// each role that exposes metrics.
pub fn configure(spec: &mut SparkApplicationSpec, app_namespace: &str, app_name: &str) {
    let Some(prometheus) = Prometheus::of(spec) else {
        return;
    };
    let agent = prometheus.java_agent_option();
    let port = prometheus.port().to_string();
    let metrics_conf = prometheus
        .metrics_properties_file()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{MOUNT_PATH}/{METRICS_PROPERTIES_KEY}"));
    let (expose_driver, expose_executor) = {
        let m = prometheus.spec;
        (m.expose_driver_metrics, m.expose_executor_metrics)
    };

    spec.spark_conf.insert(
        "spark.metrics.namespace".into(),
        format!("{app_namespace}.{app_name}"),
    );
    spec.spark_conf
        .insert("spark.metrics.conf".into(), metrics_conf);

    let roles = [
        (
            expose_driver,
            &mut spec.driver.pod.annotations,
            &mut spec.driver.java_options,
        ),
        (
            expose_executor,
            &mut spec.executor.pod.annotations,
            &mut spec.executor.java_options,
        ),
    ];
    for (exposed, annotations, java_options) in roles {
        if !exposed {
            continue;
        }
        annotations.insert("prometheus.io/scrape".into(), "true".into());
        annotations.insert("prometheus.io/port".into(), port.clone());
        annotations.insert("prometheus.io/path".into(), "/metrics".into());
        *java_options = Some(match java_options.take() {
            Some(existing) => format!("{existing} {agent}"),
            None => agent.clone(),
        });
    }
}
