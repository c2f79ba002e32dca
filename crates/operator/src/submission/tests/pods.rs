//! What Kubeflow's webhook adds, on the driver pod and in the executor template; pod templates
//! merged under Spark's settings; volumes; the UI Service and Ingresses.

use super::fixtures::*;
use crate::submission::{SubmissionOptions, plan};

const POD_FIELDS: &str = "  tolerations:
  - key: dedicated
    operator: Equal
    value: spark
    effect: NoSchedule
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: zone
            operator: In
            values: [a]
  securityContext:
    runAsNonRoot: true
  podSecurityContext:
    fsGroup: 185
  sidecars:
  - name: logger
    image: busybox
  initContainers:
  - name: setup
    image: busybox
  hostNetwork: true
  hostAliases:
  - ip: 10.0.0.9
    hostnames: [db.local]
  dnsConfig:
    nameservers: [1.1.1.1]
  schedulerName: my-scheduler
  priorityClassName: high
  terminationGracePeriodSeconds: 30
  lifecycle:
    preStop:
      exec:
        command: [sleep, '5']
  gpu:
    name: nvidia.com/gpu
    quantity: 1
  memoryLimit: 4g
  shareProcessNamespace: true
  nodeSelector:
    pool: spark
  ports:
  - name: extra
    protocol: TCP
    containerPort: 9999
  env:
  - name: FROM_SPEC
    value: '1'";

fn role_fields(role: &str) -> String {
    format!("{role}:\n{POD_FIELDS}\n")
}

/// Checks every webhook field on `pod`, whose Spark container is `spark`.
fn assert_webhook_fields(pod: &k8s_openapi::api::core::v1::Pod, spark: &str, memory_limited: bool) {
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(
        spec.tolerations.as_ref().unwrap()[0].key.as_deref(),
        Some("dedicated")
    );
    assert!(spec.affinity.as_ref().unwrap().node_affinity.is_some());
    assert_eq!(spec.security_context.as_ref().unwrap().fs_group, Some(185));
    assert!(spec.containers.iter().any(|c| c.name == "logger"));
    assert_eq!(spec.init_containers.as_ref().unwrap()[0].name, "setup");
    assert_eq!(spec.host_network, Some(true));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
    assert_eq!(spec.host_aliases.as_ref().unwrap()[0].ip, "10.0.0.9");
    assert_eq!(
        spec.dns_config.as_ref().unwrap().nameservers.as_deref(),
        Some(&["1.1.1.1".to_string()][..])
    );
    assert_eq!(spec.scheduler_name.as_deref(), Some("my-scheduler"));
    assert_eq!(spec.priority_class_name.as_deref(), Some("high"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.share_process_namespace, Some(true));
    assert_eq!(spec.node_selector.as_ref().unwrap()["pool"], "spark");
    let container = container(pod, spark);
    assert_eq!(
        container.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    assert!(container.lifecycle.as_ref().unwrap().pre_stop.is_some());
    let limits = container
        .resources
        .as_ref()
        .unwrap()
        .limits
        .clone()
        .unwrap();
    assert_eq!(limits["nvidia.com/gpu"].0, "1");
    if memory_limited {
        assert_eq!(limits["memory"].0, "4Gi");
    }
    assert!(
        container
            .ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some("extra") && p.container_port == 9999)
    );
    assert_eq!(env(container, "FROM_SPEC"), Some("1"));
}

#[test]
fn driver_gets_what_the_webhook_adds() {
    let app = scala_app(&role_fields("driver"));
    let plan = plan(&app, &context(&app)).unwrap();
    assert_webhook_fields(&plan.driver_pod, "spark-kubernetes-driver", true);
    // The Spark container stays first; the sidecar follows it.
    let names: Vec<&str> = plan
        .driver_pod
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["spark-kubernetes-driver", "logger"]);
}

#[test]
fn executor_template_carries_what_the_webhook_adds() {
    let app = scala_app(&role_fields("executor"));
    let plan = plan(&app, &context(&app)).unwrap();
    // Spark sets the executors' memory limit itself, over the template's.
    assert_webhook_fields(
        &executor_template(&plan),
        "spark-kubernetes-executor",
        false,
    );
    let driver_spec = plan.driver_pod.spec.as_ref().unwrap();
    assert!(
        driver_spec.tolerations.is_none(),
        "executor fields stay off the driver"
    );
}

#[test]
fn batch_scheduler_wins_over_the_role_scheduler() {
    let app = scala_app("batchScheduler: volcano\ndriver:\n  schedulerName: mine");
    let plan = plan(&app, &context(&app)).unwrap();
    assert_eq!(
        plan.driver_pod
            .spec
            .as_ref()
            .unwrap()
            .scheduler_name
            .as_deref(),
        Some("volcano")
    );
    assert_eq!(
        executor_template(&plan)
            .spec
            .unwrap()
            .scheduler_name
            .as_deref(),
        Some("volcano")
    );
}

#[test]
fn volumes_config_maps_and_node_placement() {
    let app = example("spark-pi-volumes.yaml");
    let plan = plan_of(&app);
    let driver_spec = plan.driver_pod.spec.as_ref().unwrap();
    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    let mount = |c: &k8s_openapi::api::core::v1::Container, name: &str| {
        c.volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("mount {name}"))
    };
    assert_eq!(mount(driver, "scratch").mount_path, "/scratch");
    let settings = mount(driver, "spark-pi-settings-vol");
    assert_eq!(
        (settings.mount_path.as_str(), settings.read_only),
        ("/etc/spark-pi", Some(true))
    );
    assert_eq!(
        mount(driver, "spark-pi-credentials-volume").mount_path,
        "/etc/secrets"
    );
    let volumes = driver_spec.volumes.clone().unwrap();
    let scratch = volumes.iter().find(|v| v.name == "scratch").unwrap();
    assert_eq!(
        scratch
            .empty_dir
            .as_ref()
            .unwrap()
            .size_limit
            .as_ref()
            .unwrap()
            .0,
        "1Gi"
    );
    let settings_volume = volumes
        .iter()
        .find(|v| v.name == "spark-pi-settings-vol")
        .unwrap();
    assert_eq!(
        settings_volume.config_map.as_ref().unwrap().name,
        "spark-pi-settings"
    );
    assert_eq!(
        driver_spec.node_selector.clone().unwrap()["kubernetes.io/os"],
        "linux"
    );
    assert_eq!(driver_spec.tolerations.as_ref().unwrap().len(), 1);
    assert_eq!(
        plan.driver_pod.metadata.labels.clone().unwrap()["team"],
        "data-platform"
    );
    let greeting = driver
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "GREETING")
        .unwrap();
    assert!(
        greeting
            .value_from
            .as_ref()
            .unwrap()
            .config_map_key_ref
            .is_some()
    );

    let template = executor_template(&plan);
    let executor = container(&template, "spark-kubernetes-executor");
    assert_eq!(mount(executor, "scratch").mount_path, "/scratch");
    let template_spec = template.spec.as_ref().unwrap();
    assert!(
        template_spec
            .volumes
            .iter()
            .flatten()
            .any(|v| v.name == "scratch")
    );
    assert_eq!(
        template_spec.node_selector.clone().unwrap()["kubernetes.io/os"],
        "linux",
        "the executors' own node selector"
    );
    assert_eq!(template_spec.tolerations.as_ref().unwrap().len(), 1);
    assert_eq!(plan.spark_properties["spark.executor.instances"], "2");
}

#[test]
fn local_dir_volumes_go_through_spark() {
    let app = scala_app(
        "volumes:
- name: spark-local-dir-fast
  hostPath:
    path: /mnt/nvme
    type: Directory
driver:
  volumeMounts:
  - name: spark-local-dir-fast
    mountPath: /tmp/spark-local
executor:
  volumeMounts:
  - name: spark-local-dir-fast
    mountPath: /tmp/spark-local",
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let props = &plan.spark_properties;
    for role in ["driver", "executor"] {
        let prefix = format!("spark.kubernetes.{role}.volumes.hostPath.spark-local-dir-fast");
        assert_eq!(props[&format!("{prefix}.mount.path")], "/tmp/spark-local");
        assert_eq!(props[&format!("{prefix}.options.path")], "/mnt/nvme");
        assert_eq!(props[&format!("{prefix}.options.type")], "Directory");
    }
    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    assert_eq!(env(driver, "SPARK_LOCAL_DIRS"), Some("/tmp/spark-local"));
    let volumes = plan
        .driver_pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap();
    let local = volumes
        .iter()
        .find(|v| v.name == "spark-local-dir-fast")
        .unwrap();
    assert_eq!(local.host_path.as_ref().unwrap().path, "/mnt/nvme");
    assert!(
        !volumes.iter().any(|v| v.name == "spark-local-dir-1"),
        "no default local dir"
    );
    // The executor template leaves these volumes to Spark.
    assert!(executor_template(&plan).spec.unwrap().volumes.is_none());
}

#[test]
fn conf_directories_from_config_maps() {
    let app = scala_app("sparkConfigMap: my-spark-conf\nhadoopConfigMap: my-hadoop-conf");
    let plan = plan(&app, &context(&app)).unwrap();
    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    assert_eq!(env(driver, "HADOOP_CONF_DIR"), Some("/etc/hadoop/conf"));
    let conf_dirs: Vec<&str> = driver
        .env
        .iter()
        .flatten()
        .filter(|e| e.name == "SPARK_CONF_DIR")
        .filter_map(|e| e.value.as_deref())
        .collect();
    // Spark's own, then the webhook's, which the kubelet lets win.
    assert_eq!(conf_dirs, ["/opt/spark/conf", "/etc/spark/conf"]);
    let volumes = plan
        .driver_pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap();
    let hadoop = volumes
        .iter()
        .find(|v| v.name == "hadoop-configmap-volume")
        .unwrap();
    assert_eq!(hadoop.config_map.as_ref().unwrap().name, "my-hadoop-conf");
    assert!(volumes.iter().any(|v| v.name == "spark-configmap-volume"));
    let executor_env = container(&executor_template(&plan), "spark-kubernetes-executor")
        .env
        .clone()
        .unwrap();
    assert!(executor_env.iter().any(|e| e.name == "HADOOP_CONF_DIR"));
}

#[test]
fn driver_template_is_merged_under_spark() {
    let app = scala_app(
        "driver:
  template:
    metadata:
      labels:
        from-template: 'yes'
    spec:
      restartPolicy: Always
      containers:
      - name: helper
        image: busybox
      - name: spark-kubernetes-driver
        env:
        - name: TEMPLATE_ENV
          value: '1'
        resources:
          limits:
            ephemeral-storage: 1Gi
      volumes:
      - name: template-volume
        emptyDir: {}",
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let pod = &plan.driver_pod;
    assert_eq!(pod.metadata.labels.clone().unwrap()["from-template"], "yes");
    let labels = pod.metadata.labels.clone().unwrap();
    assert!(
        !labels.contains_key("sparkoperator.k8s.io/mutated-by-spark-operator"),
        "a template means no webhook"
    );
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(
        spec.restart_policy.as_deref(),
        Some("Never"),
        "Spark's restart policy wins"
    );
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["helper", "spark-kubernetes-driver"],
        "Spark appends its container after the others"
    );
    let driver = container(pod, "spark-kubernetes-driver");
    let env_names: Vec<&str> = driver
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env_names[..2], ["TEMPLATE_ENV", "SPARK_USER"]);
    let limits = driver.resources.as_ref().unwrap().limits.clone().unwrap();
    assert_eq!(limits["ephemeral-storage"].0, "1Gi");
    assert!(limits.contains_key("memory"));
    let volume_names: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(volume_names[0], "template-volume");
    assert_eq!(pod.metadata.owner_references.as_ref().unwrap().len(), 1);
}

#[test]
fn ui_service_and_ingresses() {
    let app = scala_app(
        "sparkConf:
  spark.ui.port: '4041'
sparkUIOptions:
  servicePort: 80
  servicePortName: http
  serviceType: NodePort
  serviceLabels:
    exposed: 'yes'
  ingressAnnotations:
    kubernetes.io/ingress.class: nginx
  ingressTLS:
  - hosts: [ui.example.com]
    secretName: ui-tls
driverIngressOptions:
- servicePort: 8888
  servicePortName: notebook
  ingressURLFormat: '{{$appName}}-notebook.example.com'",
    );
    let options = SubmissionOptions {
        ingress_url_format: Some("ui.example.com/{{$appNamespace}}/{{$appName}}".into()),
        ingress_class_name: Some("nginx".into()),
        ..SubmissionOptions::default()
    };
    let ctx = context_with(&app, options);
    let plan = plan(&app, &ctx).unwrap();

    let ui = plan.ui_service.as_ref().unwrap();
    let ui_spec = ui.spec.as_ref().unwrap();
    assert_eq!(ui_spec.type_.as_deref(), Some("NodePort"));
    let port = &ui_spec.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("http"), 80));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(4041))
    );
    let ui_labels = ui.metadata.labels.clone().unwrap();
    assert_eq!(
        (
            ui_labels["exposed"].as_str(),
            ui_labels["sparkoperator.k8s.io/app-name"].as_str()
        ),
        ("yes", "app")
    );

    // The path makes Spark serve the UI under it.
    assert_eq!(plan.spark_properties["spark.ui.proxyBase"], "/jobs/app");
    assert_eq!(plan.spark_properties["spark.ui.proxyRedirectUri"], "/");

    let ingress = plan.ingress().unwrap();
    assert_eq!(ingress.metadata.name.as_deref(), Some("app-ui-ingress"));
    let annotations = ingress.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["kubernetes.io/ingress.class"], "nginx");
    assert_eq!(
        annotations["nginx.ingress.kubernetes.io/rewrite-target"],
        "/$2"
    );
    let spec = ingress.spec.as_ref().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        spec.tls.as_ref().unwrap()[0].secret_name.as_deref(),
        Some("ui-tls")
    );
    let rule = &spec.rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("ui.example.com"));
    let path = &rule.http.as_ref().unwrap().paths[0];
    assert_eq!(path.path.as_deref(), Some("/jobs/app(/|$)(.*)"));
    let backend = path.backend.service.as_ref().unwrap();
    assert_eq!(
        (backend.name.as_str(), backend.port.as_ref().unwrap().number),
        ("app-ui-svc", Some(80))
    );

    let notebook_service = &plan.driver_ingress_services[0];
    assert_eq!(
        notebook_service.metadata.name.as_deref(),
        Some("app-driver-8888")
    );
    let notebook = &plan.driver_ingresses[0];
    assert_eq!(notebook.metadata.name.as_deref(), Some("app-ing-8888"));
    let rule = &notebook.spec.as_ref().unwrap().rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("app-notebook.example.com"));
    assert_eq!(plan.services().count(), 3);
    assert_eq!(plan.ingresses().count(), 2);

    let without_ui = SubmissionOptions {
        enable_ui_service: false,
        ..SubmissionOptions::default()
    };
    let plan = crate::submission::plan(&app, &context_with(&app, without_ui)).unwrap();
    assert!(plan.ui_service.is_none() && plan.ui_ingress.is_none());
}

#[test]
fn spark_pods_get_no_service_links_unless_their_template_asks() {
    let plan = plan_of(&scala_app(""));
    assert_eq!(
        plan.driver_pod()
            .spec
            .as_ref()
            .unwrap()
            .enable_service_links,
        Some(false)
    );
    let template = executor_template(&plan);
    assert_eq!(template.spec.unwrap().enable_service_links, Some(false));
    let plan = plan_of(&scala_app(
        "driver:\n  template:\n    spec:\n      enableServiceLinks: true\n      containers: []\n",
    ));
    assert_eq!(
        plan.driver_pod()
            .spec
            .as_ref()
            .unwrap()
            .enable_service_links,
        Some(true),
        "the template's choice"
    );
}
