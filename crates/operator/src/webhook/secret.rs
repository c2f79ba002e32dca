//! The Secret that holds the webhook's certificates, shared by every replica: created if absent
//! (the first create wins, the others read it), renewed with optimistic concurrency (a replica
//! that loses the race reads the winner's).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use super::certs::{self, Bundle, CertSpec};

/// Key of the previous CA, kept while certificates it signed may still be served.
const PREVIOUS_CA: &str = "previous-ca-cert.pem";
/// Annotation listing the names the serving certificate was made for.
const NAMES_ANNOTATION: &str = "sparkoperator.k8s.io/webhook-certificate-names";
const ATTEMPTS: usize = 8;

/// The certificates to serve, and the caBundle that trusts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub bundle: Bundle,
    pub ca_bundle: String,
}

fn names(spec: &CertSpec) -> String {
    let mut all: Vec<String> = spec.dns_names.clone();
    all.extend(spec.ip_addresses.iter().map(ToString::to_string));
    all.join(",")
}

fn secret(
    name: &str,
    namespace: &str,
    bundle: &Bundle,
    previous_ca: Option<&str>,
    spec: &CertSpec,
) -> Secret {
    let mut data: BTreeMap<String, ByteString> = bundle
        .to_data()
        .into_iter()
        .map(|(k, v)| (k, ByteString(v.into_bytes())))
        .collect();
    if let Some(previous) = previous_ca.filter(|p| *p != bundle.ca_cert) {
        data.insert(PREVIOUS_CA.into(), ByteString(previous.as_bytes().to_vec()));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            annotations: Some(BTreeMap::from([(NAMES_ANNOTATION.into(), names(spec))])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

fn read(secret: &Secret) -> (Option<Bundle>, Option<String>) {
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let previous = data
        .get(PREVIOUS_CA)
        .and_then(|p| String::from_utf8(p.clone()).ok());
    (Bundle::from_data(&data), previous)
}

fn current(bundle: Bundle, previous: Option<&str>, now: i64) -> Current {
    let ca_bundle = certs::ca_bundle(&bundle, previous, now);
    Current { bundle, ca_bundle }
}

/// The certificate cert-manager issued into the Secret (`tls.crt`, `tls.key`, `ca.crt`), once it
/// has; cert-manager renews it, and the webhook serves whatever the Secret holds.
pub async fn issued(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<Current>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(stored) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let data = stored.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
            .filter(|s| s.contains("-----BEGIN"))
    };
    let (Some(server_cert), Some(server_key)) = (text("tls.crt"), text("tls.key")) else {
        return Ok(None);
    };
    let ca_cert = text("ca.crt").unwrap_or_else(|| server_cert.clone());
    Ok(Some(Current {
        ca_bundle: ca_cert.clone(),
        bundle: Bundle {
            ca_cert,
            ca_key: String::new(),
            server_cert,
            server_key,
        },
    }))
}

/// The certificates in the Secret, made or renewed first when needed.
pub async fn sync(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: &CertSpec,
) -> anyhow::Result<Current> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..ATTEMPTS {
        let now = jiff::Timestamp::now().as_second();
        let Some(stored) = api.get_opt(name).await? else {
            let bundle = certs::issue(None, spec, now)?;
            match api
                .create(
                    &PostParams::default(),
                    &secret(name, namespace, &bundle, None, spec),
                )
                .await
            {
                Ok(_) => return Ok(current(bundle, None, now)),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(error) => return Err(error.into()),
            }
        };
        let (bundle, previous) = read(&stored);
        let same_names = stored
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NAMES_ANNOTATION))
            == Some(&names(spec));
        if let Some(bundle) = bundle.as_ref()
            && same_names
            && !certs::needs_renewal(bundle, spec, now)
        {
            return Ok(current(bundle.clone(), previous.as_deref(), now));
        }
        let renewed = certs::issue(bundle.as_ref(), spec, now)?;
        let old_ca = bundle
            .as_ref()
            .map(|b| b.ca_cert.clone())
            .filter(|ca| *ca != renewed.ca_cert)
            .or(previous);
        let mut replacement = secret(name, namespace, &renewed, old_ca.as_deref(), spec);
        replacement.metadata.resource_version = stored.metadata.resource_version.clone();
        match api
            .replace(name, &PostParams::default(), &replacement)
            .await
        {
            Ok(_) => {
                tracing::info!(secret = name, "webhook certificate renewed");
                return Ok(current(renewed, old_ca.as_deref(), now));
            }
            // Another replica renewed it first: use theirs.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("the webhook certificate Secret {namespace}/{name} kept changing; retrying later")
}
