//! Uploading an application's local files (`file://` URIs or bare paths in mainApplicationFile,
//! jars, files and pyFiles) to an object store, and rewriting the spec to the uploaded URIs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use spark_operator_api::SparkApplicationSpec;

/// Where uploads go: `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: String,
    pub bucket: String,
    pub prefix: String,
}

impl Destination {
    pub fn parse(uri: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| anyhow!("--upload-to {uri:?} is not a URI: use s3://bucket/prefix"))?;
        if !matches!(scheme, "s3" | "s3a" | "gs" | "az" | "abfs") {
            bail!("--upload-to {uri:?}: the scheme must be s3, gs or az");
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("--upload-to {uri:?} names no bucket: use {scheme}://bucket/prefix");
        }
        Ok(Self {
            scheme: if scheme == "s3a" {
                "s3".into()
            } else {
                scheme.into()
            },
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
        })
    }

    /// The object key of a file of an application.
    pub fn key(&self, namespace: &str, app: &str, file: &Path) -> String {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        [self.prefix.as_str(), namespace, app, name.as_str()]
            .iter()
            .filter(|part| !part.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The URI Spark reads the object by: Hadoop's `s3a://` for S3, the store's own scheme otherwise.
    pub fn uri(&self, key: &str) -> String {
        let scheme = if self.scheme == "s3" {
            "s3a"
        } else {
            self.scheme.as_str()
        };
        format!("{scheme}://{}/{key}", self.bucket)
    }
}

/// The local file a dependency names, resolved against the YAML file's folder; `None` for remote
/// URIs and files inside the image (`local://`).
pub fn local_file(uri: &str, base: &Path) -> Option<PathBuf> {
    let path = match uri.split_once("://") {
        Some(("file", path)) => path,
        Some(_) => return None,
        None => uri,
    };
    let path = Path::new(path);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

/// Every local dependency of the spec, as (mutable reference to its URI).
fn dependency_uris(spec: &mut SparkApplicationSpec) -> Vec<&mut String> {
    let mut uris: Vec<&mut String> = spec.main_application_file.iter_mut().collect();
    if let Some(deps) = spec.deps.as_mut() {
        uris.extend(deps.jars.iter_mut());
        uris.extend(deps.files.iter_mut());
        uris.extend(deps.py_files.iter_mut());
    }
    uris
}

/// The files to upload, as (local path, object key), and the spec rewritten to their URIs.
pub fn plan(
    spec: &SparkApplicationSpec,
    destination: &Destination,
    namespace: &str,
    app: &str,
    base: &Path,
) -> (Vec<(PathBuf, String)>, SparkApplicationSpec) {
    let mut rewritten = spec.clone();
    let mut uploads = Vec::new();
    for uri in dependency_uris(&mut rewritten) {
        if let Some(file) = local_file(uri, base) {
            let key = destination.key(namespace, app, &file);
            *uri = destination.uri(&key);
            if !uploads.iter().any(|(_, k)| *k == key) {
                uploads.push((file, key));
            }
        }
    }
    (uploads, rewritten)
}

/// The store for the destination; credentials and endpoint come from the environment as the
/// store's own tools read them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_*`, `AZURE_*`).
pub fn store(
    destination: &Destination,
    endpoint: Option<&str>,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(match destination.scheme.as_str() {
        "s3" => {
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&destination.bucket);
            if let Some(endpoint) = endpoint
                .map(str::to_string)
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            {
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region("us-east-1");
            }
            Arc::new(builder.build().context("configuring S3")?)
        }
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&destination.bucket)
                .build()
                .context("configuring Google Cloud Storage")?,
        ),
        _ => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(&destination.bucket)
                .build()
                .context("configuring Azure Blob Storage")?,
        ),
    })
}

/// Uploads the files; each error names the file.
pub async fn upload(store: &dyn ObjectStore, uploads: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (file, key) in uploads {
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read the local dependency {}", file.display()))?;
        store
            .put(&StorePath::from(key.as_str()), bytes.into())
            .await
            .with_context(|| format!("uploading {} to {key}", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SparkApplicationSpec {
        serde_json::from_value(serde_json::json!({
            "type": "Python", "mode": "cluster", "sparkVersion": "4.0.0",
            "mainApplicationFile": "jobs/main.py",
            "deps": {"pyFiles": ["file:///opt/lib/util.py", "s3a://other/x.py"], "jars": ["local:///opt/spark/jars/a.jar"], "files": ["data.csv"]},
            "driver": {}, "executor": {},
        }))
        .unwrap()
    }

    #[test]
    fn destinations_are_checked() {
        let d = Destination::parse("s3://bucket/some/prefix/").unwrap();
        assert_eq!(
            (d.bucket.as_str(), d.prefix.as_str()),
            ("bucket", "some/prefix")
        );
        assert!(Destination::parse("bucket/prefix").is_err());
        assert!(Destination::parse("ftp://bucket").is_err());
        assert!(Destination::parse("s3:///prefix").is_err());
    }

    #[test]
    fn local_files_are_uploaded_and_rewritten_and_the_rest_kept() {
        let d = Destination::parse("s3://jobs/uploads").unwrap();
        let (uploads, rewritten) = plan(&spec(), &d, "default", "pi", Path::new("/home/me"));
        let keys: Vec<&str> = uploads.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "uploads/default/pi/main.py",
                "uploads/default/pi/data.csv",
                "uploads/default/pi/util.py"
            ]
        );
        assert_eq!(uploads[0].0, Path::new("/home/me/jobs/main.py"));
        assert_eq!(
            rewritten.main_application_file.as_deref(),
            Some("s3a://jobs/uploads/default/pi/main.py")
        );
        let deps = rewritten.deps.unwrap();
        assert_eq!(
            deps.py_files,
            ["s3a://jobs/uploads/default/pi/util.py", "s3a://other/x.py"]
        );
        assert_eq!(
            deps.jars,
            ["local:///opt/spark/jars/a.jar"],
            "files in the image stay"
        );
        assert_eq!(deps.files, ["s3a://jobs/uploads/default/pi/data.csv"]);
    }
}
