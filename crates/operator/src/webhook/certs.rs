//! The webhook's certificates, as a pure function of the stored ones and the time: a CA and a
//! serving certificate signed by it (rcgen), kept as PEM in the Secret under Kubeflow's key names,
//! and when they are due for renewal.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};

/// Keys of the Secret, as Kubeflow's operator names them.
pub const CA_CERT: &str = "ca-cert.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_CERT: &str = "server-cert.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// How long a CA lives, in serving certificate lifetimes.
const CA_LIFETIMES: u32 = 10;
/// Certificates are valid from a little before they are made, for clocks that disagree.
const BACKDATE: Duration = Duration::from_secs(60);

/// The PEM of a CA and of a serving certificate it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
}

impl Bundle {
    /// The Secret's `data` (as strings; the caller encodes).
    pub fn to_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (CA_CERT.into(), self.ca_cert.clone()),
            (CA_KEY.into(), self.ca_key.clone()),
            (SERVER_CERT.into(), self.server_cert.clone()),
            (SERVER_KEY.into(), self.server_key.clone()),
        ])
    }

    /// Reads the Secret's `data`; `None` when a key is missing or not PEM.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Option<Bundle> {
        let text = |key: &str| {
            data.get(key)
                .and_then(|bytes| String::from_utf8(bytes.clone()).ok())
                .filter(|s| s.contains("-----BEGIN"))
        };
        Some(Bundle {
            ca_cert: text(CA_CERT)?,
            ca_key: text(CA_KEY)?,
            server_cert: text(SERVER_CERT)?,
            server_key: text(SERVER_KEY)?,
        })
    }
}

/// What the serving certificate is for and how long it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub validity: Duration,
}

/// `notAfter` of the first certificate of `pem`, in seconds since the epoch.
pub fn not_after(pem: &str) -> Option<i64> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Whether `bundle` must be replaced at `now` (seconds): unreadable, or less than a third of its
/// lifetime left, or its CA expires before a renewed certificate would.
pub fn needs_renewal(bundle: &Bundle, spec: &CertSpec, now: i64) -> bool {
    let (Some(server_end), Some(ca_end)) =
        (not_after(&bundle.server_cert), not_after(&bundle.ca_cert))
    else {
        return true;
    };
    let lifetime = i64::try_from(spec.validity.as_secs()).unwrap_or(i64::MAX);
    let renew_at = server_end.saturating_sub(lifetime / 3);
    now >= renew_at || ca_end < now.saturating_add(lifetime)
}

fn timestamp(seconds: i64) -> Result<time::OffsetDateTime, rcgen::Error> {
    time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| rcgen::Error::Time)
}

/// A new bundle at `now`: the CA of `previous` when it outlives the new certificate, else a new
/// CA; and a new serving certificate for `spec`.
pub fn issue(previous: Option<&Bundle>, spec: &CertSpec, now: i64) -> Result<Bundle, rcgen::Error> {
    let lifetime = i64::try_from(spec.validity.as_secs()).unwrap_or(i64::MAX / 4);
    let backdate = i64::try_from(BACKDATE.as_secs()).unwrap_or(0);
    let reusable = previous.filter(|b| {
        not_after(&b.ca_cert)
            .is_some_and(|end| end >= now.saturating_add(lifetime.saturating_mul(2)))
    });
    let (ca_cert, ca_key, issuer) = match reusable {
        Some(b) => {
            let key = KeyPair::from_pem(&b.ca_key)?;
            let issuer = Issuer::from_ca_cert_pem(&b.ca_cert, key)?;
            let key = KeyPair::from_pem(&b.ca_key)?;
            (b.ca_cert.clone(), key.serialize_pem(), issuer)
        }
        None => {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "spark-operator-webhook-ca");
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_before = timestamp(now - backdate)?;
            params.not_after =
                timestamp(now.saturating_add(lifetime.saturating_mul(i64::from(CA_LIFETIMES))))?;
            let cert = params.self_signed(&key)?;
            let pem = key.serialize_pem();
            (cert.pem(), pem, Issuer::new(params, key))
        }
    };
    let mut params = CertificateParams::new(spec.dns_names.clone())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "spark-operator-webhook");
    params
        .subject_alt_names
        .extend(spec.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = timestamp(now - backdate)?;
    params.not_after = timestamp(now.saturating_add(lifetime))?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Bundle {
        ca_cert,
        ca_key,
        server_cert: cert.pem(),
        server_key: key.serialize_pem(),
    })
}

/// The caBundle for the webhook configurations: the current CA, and the previous one while a
/// certificate it signed may still be served.
pub fn ca_bundle(current: &Bundle, previous_ca: Option<&str>, now: i64) -> String {
    let mut bundle = current.ca_cert.clone();
    if let Some(old) = previous_ca
        .filter(|old| *old != current.ca_cert)
        .filter(|old| not_after(old).is_some_and(|end| end > now))
    {
        bundle.push_str(old);
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seconds: u64) -> CertSpec {
        CertSpec {
            dns_names: vec!["svc.ns.svc".into(), "localhost".into()],
            ip_addresses: vec![IpAddr::from([127, 0, 0, 1])],
            validity: Duration::from_secs(seconds),
        }
    }

    #[test]
    fn renewal_keeps_the_ca_and_replaces_the_serving_certificate() {
        let now = 1_700_000_000;
        let first = issue(None, &spec(3600), now).expect("issued");
        assert!(!needs_renewal(&first, &spec(3600), now));
        assert!(!needs_renewal(&first, &spec(3600), now + 2000));
        assert!(needs_renewal(&first, &spec(3600), now + 2500));
        let end = not_after(&first.server_cert).expect("readable");
        assert_eq!(end, now + 3600);
        let second = issue(Some(&first), &spec(3600), now + 2500).expect("renewed");
        assert_eq!(second.ca_cert, first.ca_cert);
        assert_ne!(second.server_cert, first.server_cert);
        assert!(!needs_renewal(&second, &spec(3600), now + 2500));
        let data: BTreeMap<String, Vec<u8>> = second
            .to_data()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        assert_eq!(Bundle::from_data(&data), Some(second.clone()));
        assert_eq!(
            ca_bundle(&second, Some(&first.ca_cert), now),
            second.ca_cert
        );
    }

    #[test]
    fn a_ca_about_to_expire_is_replaced_and_kept_in_the_bundle_meanwhile() {
        let now = 1_700_000_000;
        let first = issue(None, &spec(100), now).expect("issued");
        let late = now + 100 * 10 - 150;
        assert!(needs_renewal(&first, &spec(100), late));
        let next = issue(Some(&first), &spec(100), late).expect("renewed");
        assert_ne!(next.ca_cert, first.ca_cert);
        let bundle = ca_bundle(&next, Some(&first.ca_cert), late);
        assert!(bundle.starts_with(&next.ca_cert) && bundle.ends_with(&first.ca_cert));
    }

    #[test]
    fn garbage_is_renewed() {
        let broken = Bundle {
            ca_cert: "x".into(),
            ca_key: "y".into(),
            server_cert: "z".into(),
            server_key: "w".into(),
        };
        assert!(needs_renewal(&broken, &spec(60), 0));
        assert!(Bundle::from_data(&BTreeMap::new()).is_none());
    }
}
