//! The pod being built and its Spark container, kept apart as Spark's `SparkPod` keeps them, and
//! the small builders of volumes, mounts and variables that every step of the pod code shares.
//! The steps (`driver_basic_step`, `customize`, `driver_pod`) depend on this module and not on
//! one another.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, KeyToPath, Pod, PodSpec, Volume, VolumeMount,
};

/// The pod being built and its Spark container, kept apart as Spark keeps them.
pub struct SparkPod {
    pub pod: Pod,
    pub spec: PodSpec,
    pub container: Container,
}

impl SparkPod {
    pub fn add_volume(&mut self, volume: Volume, volume_mount: VolumeMount) {
        self.spec.volumes.get_or_insert_default().push(volume);
        self.container
            .volume_mounts
            .get_or_insert_default()
            .push(volume_mount);
    }

    pub fn add_env(&mut self, variable: EnvVar) {
        self.container.env.get_or_insert_default().push(variable);
    }
}

/// A volume with only its name and what `fill` sets.
pub fn volume_with(name: &str, fill: impl FnOnce(&mut Volume)) -> Volume {
    let mut volume = Volume {
        name: name.into(),
        ..Default::default()
    };
    fill(&mut volume);
    volume
}

pub fn mount(volume: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

pub fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub fn config_map_volume(volume: &str, config_map: &str, items: Option<Vec<KeyToPath>>) -> Volume {
    let source = ConfigMapVolumeSource {
        name: config_map.into(),
        items,
        ..Default::default()
    };
    volume_with(volume, |v| v.config_map = Some(source))
}
