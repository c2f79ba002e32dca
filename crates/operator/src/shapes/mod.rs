//! The shapes in which the operator reads objects from the API server, and in which the
//! controller keeps the objects it watches: only the parts it reads. At 10,000 applications the typed objects cost most of the operator's memory and
//! CPU: a typed `SparkApplication` is about 10 KB before any of its fields is set (its driver and
//! executor embed every optional pod field), and a watched pod carries its whole spec, which the
//! controller never reads.

mod metadata;

use std::borrow::Cow;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use spark_operator_api::SparkApplication;

use metadata::without_managed_fields;

/// A JSON value kept as its compact text: a few hundred bytes where the typed value takes
/// kilobytes. Read from any deserializer (not only serde_json's own), so it does not depend on
/// the order of the fields of a watch event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactJson(Box<str>);

impl CompactJson {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for CompactJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Self(value.to_string().into_boxed_str()))
    }
}

/// A SparkApplication as the controller caches it: metadata typed, spec and status as compact
/// JSON, decoded into a typed [`SparkApplication`] only while it is reconciled. Any object of
/// the kind reads as this, so an application the types cannot read is reported on its own
/// instead of breaking the watch of every other one.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CachedApplication {
    #[serde(default, deserialize_with = "without_managed_fields")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<CompactJson>,
    #[serde(default)]
    pub status: Option<CompactJson>,
}

impl CachedApplication {
    /// The typed application, or the reason the types cannot read it.
    pub fn decode(&self) -> Result<SparkApplication, String> {
        let spec = self.spec.as_ref().map_or("{}", CompactJson::as_str);
        let spec = serde_json::from_str(spec).map_err(|e| format!("spec: {e}"))?;
        let status = self
            .status
            .as_ref()
            .map(|status| serde_json::from_str(status.as_str()))
            .transpose()
            .map_err(|e| format!("status: {e}"))?;
        Ok(SparkApplication {
            metadata: self.metadata.clone(),
            spec,
            status,
        })
    }

    /// The status as the cluster holds it, as JSON (`null` when there is none).
    pub fn status_json(&self) -> serde_json::Value {
        self.status
            .as_ref()
            .and_then(|status| serde_json::from_str(status.as_str()).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// An object of kind `K` read as its metadata and status alone (`S`; [`IgnoredAny`] for none):
/// the rest of the object is skipped while it is parsed, never allocated.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Slim<K, S = IgnoredAny> {
    #[serde(default, deserialize_with = "without_managed_fields")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<S>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K, S: Clone> Clone for Slim<K, S> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            status: self.status.clone(),
            kind: PhantomData,
        }
    }
}

/// An object of kind `K` read as its metadata and spec alone (`S`): what the operator reads of
/// the answer to creating a Service or an Ingress, without its status and `managedFields`.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct WithSpec<K, S> {
    #[serde(default, deserialize_with = "without_managed_fields")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<S>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

/// An object of kind `K` of which the API server sends the metadata alone (kube-rs asks for
/// `PartialObjectMetadata` for it, as for kube's `PartialObjectMeta`), read without its
/// `managedFields`.
#[derive(Debug, Deserialize)]
pub struct Metadata<K> {
    #[serde(default, deserialize_with = "without_managed_fields")]
    pub metadata: ObjectMeta,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Metadata<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            kind: PhantomData,
        }
    }
}

/// The `Resource` of a cached shape is that of the kind it stands for.
macro_rules! resource_of {
    ($shape:ty, $kind:ty, [$($generics:tt)*]) => {
        resource_of!($shape, $kind, [$($generics)*], false);
    };
    ($shape:ty, $kind:ty, [$($generics:tt)*], $metadata_only:expr) => {
        impl<$($generics)*> Resource for $shape {
            type DynamicType = ();
            type Scope = <$kind as Resource>::Scope;

            fn kind(dt: &()) -> Cow<'_, str> {
                <$kind>::kind(dt)
            }
            fn group(dt: &()) -> Cow<'_, str> {
                <$kind>::group(dt)
            }
            fn version(dt: &()) -> Cow<'_, str> {
                <$kind>::version(dt)
            }
            fn plural(dt: &()) -> Cow<'_, str> {
                <$kind>::plural(dt)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn metadata_api() -> bool {
                $metadata_only
            }
        }
    };
}

resource_of!(CachedApplication, SparkApplication, []);
resource_of!(Slim<K, S>, K, [K: Resource<DynamicType = ()>, S]);
resource_of!(WithSpec<K, S>, K, [K: Resource<DynamicType = ()>, S]);
resource_of!(Metadata<K>, K, [K: Resource<DynamicType = ()>], true);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus};
    use serde_json::json;

    #[test]
    fn a_slim_pod_keeps_metadata_and_status_and_skips_the_spec() {
        let pod: Slim<Pod, PodStatus> = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "d", "namespace": "n", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "i"}]},
            "status": {"phase": "Running"},
        }))
        .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("d"));
        assert_eq!(pod.metadata.labels.unwrap()["a"], "b");
        assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
        assert_eq!(Slim::<Pod, PodStatus>::plural(&()), "pods");
        assert_eq!(Slim::<ConfigMap>::kind(&()), "ConfigMap");
        assert!(!Slim::<Pod, PodStatus>::metadata_api());
    }

    #[test]
    fn a_created_service_is_read_as_its_metadata_and_spec() {
        use k8s_openapi::api::core::v1::{Service, ServiceSpec};
        let read: WithSpec<Service, ServiceSpec> = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "ui", "managedFields": [{"manager": "spark-operator"}]},
            "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 4040}]},
            "status": {"loadBalancer": {}},
        }))
        .unwrap();
        assert_eq!(read.metadata.name.as_deref(), Some("ui"));
        assert_eq!(read.metadata.managed_fields, None);
        let spec = read.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(spec.ports.unwrap()[0].port, 4040);
        assert_eq!(WithSpec::<Service, ServiceSpec>::plural(&()), "services");
        assert!(!WithSpec::<Service, ServiceSpec>::metadata_api());
    }

    #[test]
    fn metadata_is_asked_for_alone_and_read_without_managed_fields() {
        assert!(Metadata::<ConfigMap>::metadata_api());
        assert_eq!(Metadata::<ConfigMap>::plural(&()), "configmaps");
        let read: Metadata<ConfigMap> = serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "conf", "labels": {"a": "b"},
                         "managedFields": [{"manager": "spark-operator", "operation": "Update"}]},
        }))
        .unwrap();
        assert_eq!(read.metadata.name.as_deref(), Some("conf"));
        assert_eq!(read.metadata.managed_fields, None);
    }

    #[test]
    fn a_cached_application_decodes_to_the_typed_one() {
        let object = json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "n"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0", "driver": {"cores": 1},
                     "executor": {"instances": 1}},
            "status": {"applicationState": {"state": "RUNNING"}},
        });
        let cached: CachedApplication = serde_json::from_value(object.clone()).unwrap();
        let typed: SparkApplication = serde_json::from_value(object).unwrap();
        assert_eq!(
            serde_json::to_value(cached.decode().unwrap()).unwrap(),
            serde_json::to_value(typed).unwrap()
        );
        assert_eq!(cached.status_json()["applicationState"]["state"], "RUNNING");
        assert_eq!(CachedApplication::plural(&()), "sparkapplications");
    }

    #[test]
    fn an_unreadable_spec_is_cached_and_named_when_decoded() {
        let cached: CachedApplication = serde_json::from_value(json!({
            "metadata": {"name": "bad"},
            "spec": {"type": "Scala", "driver": {"cores": "many"}},
        }))
        .unwrap();
        let error = cached.decode().unwrap_err();
        assert!(error.starts_with("spec: "), "{error}");
    }
}
