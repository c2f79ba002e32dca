//! Where a container's paths are on this machine. A process shares the host's filesystem, so
//! the paths a pod spec names (`/opt/spark/...`, its volume mounts) are rewritten to the Spark
//! installation and to the pod's own directory wherever the runtime hands them to the process:
//! arguments, environment values and the driver's `spark.properties`.

use std::path::{Path, PathBuf};

/// The image's Spark directory, which the runtime maps to the Spark installation it runs.
pub const IMAGE_SPARK_HOME: &str = "/opt/spark";
/// The image's working directory; each pod gets its own.
pub const IMAGE_WORK_DIR: &str = "/opt/spark/work-dir";

/// Container path prefixes and the host directories they stand for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathMap {
    /// Longest prefix first, so a mount inside `/opt/spark` wins over `/opt/spark` itself.
    entries: Vec<(String, PathBuf)>,
}

impl PathMap {
    /// `/opt/spark` as the Spark installation and its work dir as `work_dir`.
    pub fn new(spark_home: &Path, work_dir: &Path) -> PathMap {
        let mut map = PathMap::default();
        map.add(IMAGE_SPARK_HOME, spark_home);
        map.add(IMAGE_WORK_DIR, work_dir);
        map
    }

    /// Maps `container` (a mount path) to `host`.
    pub fn add(&mut self, container: &str, host: &Path) {
        let container = container.trim_end_matches('/');
        let container = if container.is_empty() { "/" } else { container };
        self.entries.retain(|(prefix, _)| prefix != container);
        self.entries
            .push((container.to_string(), host.to_path_buf()));
        self.entries
            .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then(a.cmp(b)));
    }

    /// The container prefixes and their host directories, longest prefix first.
    pub fn mappings(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.entries
            .iter()
            .map(|(prefix, host)| (prefix.as_str(), host.as_path()))
    }

    /// The host path of an absolute container path, when a prefix covers it.
    pub fn host_path(&self, path: &str) -> Option<String> {
        self.entries.iter().find_map(|(prefix, host)| {
            let rest = path.strip_prefix(prefix.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/') || prefix == "/") {
                return None;
            }
            let rest = rest.trim_start_matches('/');
            let mapped = if rest.is_empty() {
                host.clone()
            } else {
                host.join(rest)
            };
            Some(mapped.to_string_lossy().into_owned())
        })
    }

    /// Rewrites the container paths in a value: a path, a `local://` or `file://` URI, or a list
    /// of them separated by `,` (Spark's lists) or `:` (class paths).
    pub fn rewrite(&self, value: &str) -> String {
        value
            .split(',')
            .map(|item| self.rewrite_item(item))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn rewrite_item(&self, item: &str) -> String {
        for scheme in ["local://", "file://"] {
            if let Some(path) = item.strip_prefix(scheme) {
                return match self.host_path(path) {
                    Some(host) => format!("{scheme}{host}"),
                    None => item.to_string(),
                };
            }
        }
        if item.contains("://") {
            return item.to_string();
        }
        item.split(':')
            .map(|part| match part.starts_with('/') {
                true => self.host_path(part).unwrap_or_else(|| part.to_string()),
                false => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Rewrites the values of a `spark.properties` text. The volume settings of executors are
    /// left alone: they describe the executor pods the driver creates, whose paths the runtime
    /// maps when it starts them.
    pub fn rewrite_properties(&self, text: &str) -> String {
        let Ok(properties) = java_properties::read(text.as_bytes()) else {
            return text.to_string();
        };
        let mut keys: Vec<_> = properties.into_iter().collect();
        keys.sort();
        let rewritten: Vec<(String, String)> = keys
            .into_iter()
            .map(|(key, value)| {
                let value = if key.contains(".volumes.") {
                    value
                } else {
                    self.rewrite(&value)
                };
                (key, value)
            })
            .collect();
        let mut out = Vec::new();
        let mut writer = java_properties::PropertiesWriter::new(&mut out);
        for (key, value) in &rewritten {
            if writer.write(key, value).is_err() {
                return text.to_string();
            }
        }
        if writer.finish().is_err() {
            return text.to_string();
        }
        String::from_utf8(out).unwrap_or_else(|_| text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> PathMap {
        let mut map = PathMap::new(Path::new("/py/pyspark"), Path::new("/pods/p1/work-dir"));
        map.add("/opt/spark/conf", Path::new("/pods/p1/volumes/spark-conf"));
        map.add("/mnt/input/", Path::new("/pods/p1/volumes/input"));
        map
    }

    #[test]
    fn the_longest_prefix_wins() {
        let map = map();
        assert_eq!(
            map.host_path("/opt/spark/conf/spark.properties").as_deref(),
            Some("/pods/p1/volumes/spark-conf/spark.properties")
        );
        assert_eq!(
            map.host_path("/opt/spark/examples/src/main/python/pi.py")
                .as_deref(),
            Some("/py/pyspark/examples/src/main/python/pi.py")
        );
        assert_eq!(map.host_path("/opt/spark").as_deref(), Some("/py/pyspark"));
        assert_eq!(
            map.host_path("/opt/spark/work-dir").as_deref(),
            Some("/pods/p1/work-dir")
        );
        assert_eq!(map.host_path("/opt/sparkling"), None);
        assert_eq!(map.host_path("/etc/hosts"), None);
    }

    #[test]
    fn uris_and_lists_are_rewritten_item_by_item() {
        let map = map();
        assert_eq!(
            map.rewrite("local:///opt/spark/examples/src/main/python/pi.py"),
            "local:///py/pyspark/examples/src/main/python/pi.py"
        );
        assert_eq!(
            map.rewrite("local:///mnt/input/a.txt,s3a://bucket/opt/spark/b.jar,file:///etc/x"),
            "local:///pods/p1/volumes/input/a.txt,s3a://bucket/opt/spark/b.jar,file:///etc/x"
        );
        assert_eq!(
            map.rewrite("/opt/spark/conf:/opt/spark/jars/*:relative"),
            "/pods/p1/volumes/spark-conf:/py/pyspark/jars/*:relative"
        );
        assert_eq!(map.rewrite("512m"), "512m");
    }

    #[test]
    fn properties_keep_executor_volume_settings() {
        let map = map();
        let text = "spark.kubernetes.executor.podTemplateFile=/opt/spark/pod-template/t.yml\n\
                    spark.kubernetes.executor.volumes.emptyDir.data.mount.path=/mnt/input\n\
                    spark.app.name=pi\n";
        let rewritten = java_properties::read(map.rewrite_properties(text).as_bytes()).unwrap();
        assert_eq!(
            rewritten["spark.kubernetes.executor.podTemplateFile"],
            "/py/pyspark/pod-template/t.yml"
        );
        assert_eq!(
            rewritten["spark.kubernetes.executor.volumes.emptyDir.data.mount.path"],
            "/mnt/input"
        );
        assert_eq!(rewritten["spark.app.name"], "pi");
    }
}
