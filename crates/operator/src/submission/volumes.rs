//! Volumes Spark mounts from `spark.kubernetes.{driver,executor}.volumes.<type>.<name>.*` keys,
//! as its `MountVolumesFeatureStep` builds them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, NFSVolumeSource, PersistentVolumeClaimVolumeSource,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::SubmissionError;
use super::settings::Settings;

/// The volumes and mounts of every volume declared under `prefix`, in name order.
pub fn from_conf(
    settings: Settings,
    prefix: &str,
    resource_prefix: &str,
) -> Result<Vec<(Volume, VolumeMount)>, SubmissionError> {
    let properties = settings.prefixed(prefix);
    let declared: BTreeSet<(String, String)> = properties
        .keys()
        .filter_map(|key| {
            let mut parts = key.split('.');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    let mut built = Vec::new();
    let mut paths = BTreeMap::<String, usize>::new();
    for (index, (kind, name)) in declared.iter().enumerate() {
        let declaration = Declaration {
            properties: &properties,
            prefix,
            kind,
            name,
        };
        let volume_mount = declaration.mount()?;
        *paths.entry(volume_mount.mount_path.clone()).or_default() += 1;
        let claim_name = format!("{resource_prefix}-driver-pvc-{index}");
        let volume = declaration.volume(volume_mount.read_only == Some(true), &claim_name)?;
        built.push((volume, volume_mount));
    }
    if let Some((path, _)) = paths.iter().find(|(_, count)| **count > 1) {
        return Err(SubmissionError::InvalidConf {
            key: prefix.trim_end_matches('.').to_string(),
            value: path.clone(),
            reason: "two volumes are mounted at the same path".into(),
        });
    }
    Ok(built)
}

/// The keys of one declared volume, `<type>.<name>.*`.
struct Declaration<'a> {
    properties: &'a BTreeMap<String, String>,
    prefix: &'a str,
    kind: &'a str,
    name: &'a str,
}

impl Declaration<'_> {
    fn key(&self, suffix: &str) -> String {
        format!("{}.{}.{suffix}", self.kind, self.name)
    }

    fn get(&self, suffix: &str) -> Option<String> {
        self.properties.get(&self.key(suffix)).cloned()
    }

    fn required(&self, suffix: &str) -> Result<String, SubmissionError> {
        self.get(suffix).ok_or_else(|| {
            invalid(
                self.prefix,
                &self.key(suffix),
                &format!("required for {} volumes", self.kind),
            )
        })
    }

    fn mount(&self) -> Result<VolumeMount, SubmissionError> {
        let sub_path = self.get("mount.subPath").filter(|p| !p.is_empty());
        let sub_path_expr = self.get("mount.subPathExpr").filter(|p| !p.is_empty());
        if sub_path.is_some() && sub_path_expr.is_some() {
            let reason = "mount.subPath and mount.subPathExpr exclude each other";
            return Err(invalid(self.prefix, &self.key("mount.subPath"), reason));
        }
        let read_only = match self
            .get("mount.readOnly")
            .map(|v| v.to_lowercase())
            .as_deref()
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(invalid(
                    self.prefix,
                    &self.key("mount.readOnly"),
                    "expected true or false",
                ));
            }
        };
        // Spark 4 sets all three, empty when not configured.
        Ok(VolumeMount {
            name: self.name.to_string(),
            mount_path: self.required("mount.path")?,
            read_only: Some(read_only),
            sub_path: Some(sub_path.unwrap_or_default()),
            sub_path_expr: Some(sub_path_expr.unwrap_or_default()),
            ..Default::default()
        })
    }

    /// The volume; `OnDemand` in a claim name becomes `on_demand_claim`.
    fn volume(&self, read_only: bool, on_demand_claim: &str) -> Result<Volume, SubmissionError> {
        let mut volume = Volume {
            name: self.name.to_string(),
            ..Default::default()
        };
        match self.kind {
            "hostPath" => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: self.required("options.path")?,
                    type_: Some(self.get("options.type").unwrap_or_default()),
                });
            }
            "persistentVolumeClaim" => {
                let template = self.required("options.claimName")?;
                if self.get("options.storageClass").is_some()
                    && self.get("options.sizeLimit").is_some()
                {
                    let what = format!(
                        "volume {}: claims created on demand (storageClass and sizeLimit)",
                        self.name
                    );
                    return Err(SubmissionError::Unsupported(what));
                }
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: template.replace("OnDemand", on_demand_claim),
                    read_only: read_only.then_some(true),
                });
            }
            "emptyDir" => {
                volume.empty_dir = Some(EmptyDirVolumeSource {
                    medium: self.get("options.medium").filter(|m| !m.is_empty()),
                    size_limit: self.get("options.sizeLimit").map(Quantity),
                    ..Default::default()
                });
            }
            "nfs" => {
                volume.nfs = Some(NFSVolumeSource {
                    path: self.required("options.path")?,
                    server: self.required("options.server")?,
                    read_only: None,
                });
            }
            other => {
                return Err(SubmissionError::UnsupportedVolumeType(format!(
                    "{other} ({})",
                    self.name
                )));
            }
        }
        Ok(volume)
    }
}

fn invalid(prefix: &str, key: &str, reason: &str) -> SubmissionError {
    SubmissionError::InvalidConf {
        key: format!("{prefix}{key}"),
        value: String::new(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    format!("spark.kubernetes.driver.volumes.{k}"),
                    v.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn builds_each_supported_type() {
        let map = conf(&[
            ("emptyDir.spark-local-dir-1.mount.path", "/scratch"),
            ("emptyDir.spark-local-dir-1.options.sizeLimit", "1Gi"),
            ("hostPath.logs.mount.path", "/logs"),
            ("hostPath.logs.mount.readOnly", "true"),
            ("hostPath.logs.options.path", "/var/log"),
            ("nfs.share.mount.path", "/share"),
            ("nfs.share.options.path", "/exports"),
            ("nfs.share.options.server", "nfs.local"),
            ("persistentVolumeClaim.data.mount.path", "/data"),
            ("persistentVolumeClaim.data.mount.subPath", "app"),
            ("persistentVolumeClaim.data.options.claimName", "data-claim"),
        ]);
        let built = from_conf(Settings(&map), "spark.kubernetes.driver.volumes.", "pi-1").unwrap();
        let by_name: BTreeMap<_, _> = built
            .iter()
            .map(|(v, m)| (v.name.as_str(), (v, m)))
            .collect();
        let (dir, dir_mount) = by_name["spark-local-dir-1"];
        assert_eq!(
            dir.empty_dir.as_ref().unwrap().size_limit,
            Some(Quantity("1Gi".into()))
        );
        assert_eq!(dir_mount.mount_path, "/scratch");
        let (logs, logs_mount) = by_name["logs"];
        assert_eq!(logs.host_path.as_ref().unwrap().path, "/var/log");
        assert_eq!(logs_mount.read_only, Some(true));
        assert_eq!(by_name["share"].0.nfs.as_ref().unwrap().server, "nfs.local");
        let (data, data_mount) = by_name["data"];
        assert_eq!(
            data.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-claim"
        );
        assert_eq!(data_mount.sub_path.as_deref(), Some("app"));
    }

    #[test]
    fn rejects_what_spark_rejects() {
        let missing_path = conf(&[("emptyDir.a.options.medium", "Memory")]);
        assert!(
            from_conf(
                Settings(&missing_path),
                "spark.kubernetes.driver.volumes.",
                "p"
            )
            .is_err()
        );
        let unknown = conf(&[("gitRepo.a.mount.path", "/a")]);
        assert!(from_conf(Settings(&unknown), "spark.kubernetes.driver.volumes.", "p").is_err());
        let twice = conf(&[
            ("emptyDir.a.mount.path", "/x"),
            ("emptyDir.b.mount.path", "/x"),
        ]);
        assert!(from_conf(Settings(&twice), "spark.kubernetes.driver.volumes.", "p").is_err());
    }
}
