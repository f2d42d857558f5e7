//! The proxy's certificate authority: generated when the stack starts,
//! it issues a leaf certificate for each host the guest connects to, so
//! the guest's TLS is terminated here and re-issued upstream.
//!
//! The CA certificate is exported as PEM (the guest trusts it through
//! `proxy.crt`); the CA key never leaves this struct.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Leaf certificates kept per host; a hostile guest naming endless hosts
/// only makes the cache start over.
const MAX_CACHED_LEAVES: usize = 1024;
/// Clocks of guests and hosts disagree; back-date certificates a little.
const BACKDATE: Duration = Duration::days(2);
const CA_LIFETIME: Duration = Duration::days(3650);
/// Under the 398-day maximum some clients enforce for server certificates.
const LEAF_LIFETIME: Duration = Duration::days(397);
/// ALPN: the proxy speaks HTTP/1.1 only (RFC 7301).
const ALPN_HTTP11: &[u8] = b"http/1.1";

#[derive(Debug)]
pub enum CaError {
    Generate(String),
    /// The host cannot be put in a certificate.
    BadName(String),
    Rustls(String),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Generate(m) => write!(f, "certificate generation failed: {m}"),
            CaError::BadName(m) => write!(f, "cannot issue a certificate for {m}"),
            CaError::Rustls(m) => write!(f, "TLS configuration failed: {m}"),
        }
    }
}

impl std::error::Error for CaError {}

pub struct CertificateAuthority {
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// One key for every leaf: issuing a certificate is then one signature.
    leaf_key: KeyPair,
    not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
    provider: Arc<CryptoProvider>,
    rng: SystemRandom,
    leaves: Mutex<HashMap<String, Leaf>>,
}

/// An issued leaf: its certificate and a rustls configuration presenting it.
#[derive(Clone)]
struct Leaf {
    config: Arc<ServerConfig>,
    cert: CertificateDer<'static>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("not_before", &self.not_before)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Generates a fresh CA. `now_unix_secs` comes from the embedder (there
    /// is no clock to read on wasm32-unknown-unknown).
    pub fn generate(now_unix_secs: i64) -> Result<CertificateAuthority, CaError> {
        let gen = |e: rcgen::Error| CaError::Generate(e.to_string());
        let now = OffsetDateTime::from_unix_timestamp(now_unix_secs)
            .map_err(|e| CaError::Generate(format!("bad time {now_unix_secs}: {e}")))?;
        let not_before = now - BACKDATE;
        let ca_not_after = now + CA_LIFETIME;
        let rng = SystemRandom::new();

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "netvm");
        dn.push(DnType::CommonName, "netvm proxy CA");
        params.distinguished_name = dn;
        // RFC 5280 §4.2.1.9: a CA that only signs leaves needs no path length.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = not_before;
        params.not_after = ca_not_after;
        params.serial_number = Some(random_serial(&rng)?);
        let ca_key = KeyPair::generate().map_err(gen)?;
        let ca_cert = params.self_signed(&ca_key).map_err(gen)?;
        let ca_der = ca_cert.der().clone();
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(params, ca_key);

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(CertificateAuthority {
            ca_der,
            ca_pem,
            issuer,
            leaf_key: KeyPair::generate().map_err(gen)?,
            not_before,
            ca_not_after,
            provider,
            rng,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate in PEM, for the guest's trust store (`proxy.crt`).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// A rustls server configuration presenting a leaf for `host` (a DNS
    /// name or IP literal, already checked by the caller), issued on first
    /// use and cached.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        Ok(self.leaf(host)?.config)
    }

    /// The DER leaf certificate for `host` (same cache as `server_config`),
    /// for the legacy TLS 1.2 path that rustls does not serve.
    pub fn leaf_certificate(&self, host: &str) -> Result<CertificateDer<'static>, CaError> {
        Ok(self.leaf(host)?.cert)
    }

    /// The leaves' private key (PKCS#8), for the crate's own legacy TLS
    /// server only; the CA key is never handed out.
    pub(crate) fn leaf_key_pkcs8(&self) -> Vec<u8> {
        self.leaf_key.serialize_der()
    }

    fn leaf(&self, host: &str) -> Result<Leaf, CaError> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        // Names come from the guest: only DNS names and IP literals get certificates.
        if host.parse::<std::net::IpAddr>().is_err() {
            crate::http::Authority::from_host(&host, None).map_err(CaError::BadName)?;
        }
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(leaf) = leaves.get(&host) {
            return Ok(leaf.clone());
        }
        let leaf = self.issue(&host)?;
        log::debug!("issued a leaf certificate for {host}");
        if leaves.len() >= MAX_CACHED_LEAVES {
            leaves.clear();
        }
        leaves.insert(host, leaf.clone());
        Ok(leaf)
    }

    fn issue(&self, host: &str) -> Result<Leaf, CaError> {
        let bad = |e: rcgen::Error| CaError::BadName(format!("{host:?}: {e}"));
        let mut params = CertificateParams::new(vec![host.to_string()]).map_err(bad)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = self.not_before;
        params.not_after = (self.not_before + LEAF_LIFETIME).min(self.ca_not_after);
        params.serial_number = Some(random_serial(&self.rng)?);
        let cert = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(bad)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| CaError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.ca_der.clone()], key)
            .map_err(|e| CaError::Rustls(e.to_string()))?;
        cfg.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Leaf {
            config: Arc::new(cfg),
            cert: cert.der().clone(),
        })
    }
}

/// RFC 5280 §4.1.2.2: positive, at most 20 octets, unique per issuer.
fn random_serial(rng: &SystemRandom) -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)
        .map_err(|_| CaError::Generate("no randomness for a serial number".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_760_000_000;

    #[test]
    fn exports_pem_and_caches_leaves() {
        let ca = CertificateAuthority::generate(NOW).unwrap();
        assert!(ca.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!ca.ca_cert_pem().contains("PRIVATE KEY"));
        let a = ca.server_config("example.com").unwrap();
        let b = ca.server_config("EXAMPLE.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = ca.server_config("127.0.0.1").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn refuses_names_that_cannot_be_certified() {
        let ca = CertificateAuthority::generate(NOW).unwrap();
        assert!(ca.server_config("bad name\u{7f}").is_err());
    }

    #[test]
    fn cache_is_bounded() {
        let ca = CertificateAuthority::generate(NOW).unwrap();
        for i in 0..(MAX_CACHED_LEAVES + 5) {
            ca.server_config(&format!("h{i}.test")).unwrap();
        }
        assert!(ca.leaves.lock().unwrap().len() <= MAX_CACHED_LEAVES);
    }
}
