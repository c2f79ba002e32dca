//! The cluster's certificate authority and serving certificate, generated with rcgen. With a data
//! directory the CA is kept there, so kubeconfigs written before a restart stay valid.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("CA files: {0}")]
    Io(#[from] std::io::Error),
}

/// What clients need (the CA) and what the server needs (its TLS configuration).
pub struct Certificates {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub server_config: Arc<rustls::ServerConfig>,
}

const CA_CERT_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "localcluster-ca");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// The CA as (certificate PEM, issuer), loaded from `data_dir` or made (and saved there).
fn certificate_authority(
    data_dir: Option<&Path>,
) -> Result<(String, Issuer<'static, KeyPair>), TlsError> {
    if let Some(dir) = data_dir {
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        if cert_path.exists() && key_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path)?;
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?;
            let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
            return Ok((cert_pem, issuer));
        }
    }
    let key = KeyPair::generate()?;
    let params = ca_params()?;
    let cert = params.self_signed(&key)?;
    if let Some(dir) = data_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(CA_CERT_FILE), cert.pem())?;
        std::fs::write(dir.join(CA_KEY_FILE), key.serialize_pem())?;
    }
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A serving certificate for `localhost` and `addresses`, signed by the cluster CA.
pub fn generate(data_dir: Option<&Path>, addresses: &[IpAddr]) -> Result<Certificates, TlsError> {
    let (ca_pem, issuer) = certificate_authority(data_dir)?;
    let ca_der = rustls_pemfile_der(&ca_pem)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localcluster-apiserver");
    params
        .subject_alt_names
        .extend(addresses.iter().map(|a| SanType::IpAddress(*a)));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), CertificateDer::from(ca_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Certificates {
        ca_pem,
        ca_der,
        server_config: Arc::new(config),
    })
}

fn rustls_pemfile_der(pem: &str) -> Result<Vec<u8>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| {
            TlsError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            ))
        })
}
