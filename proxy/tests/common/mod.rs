//! Real peers for the integration tests: an origin server (plain and
//! HTTPS with a test CA made here), the proxy on a loopback port with the
//! native upstream, and a guest-side HTTP client (plain, or TLS through
//! CONNECT trusting the proxy's CA).

#![allow(dead_code)]

pub mod client;
pub mod origin;

use netvm_proxy::native::front::{self, FrontConfig};
use netvm_proxy::native::{NativeOptions, NativeUpstream};
use netvm_proxy::{CertificateAuthority, ProxyConfig, Role};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A scratch directory for this test process.
pub fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "netvm-proxy-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A CA of the test's own and a server certificate for localhost and
/// 127.0.0.1 signed by it: the "real internet" PKI of the tests.
pub struct TestPki {
    pub ca_pem_file: PathBuf,
    pub ca_der: rustls_pki_types::CertificateDer<'static>,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl TestPki {
    pub fn generate() -> TestPki {
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "netvm test origin CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let dir = scratch_dir();
        let ca_pem_file = dir.join("origin-ca.pem");
        std::fs::write(&ca_pem_file, ca_cert.pem()).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone()], key)
            .unwrap();
        TestPki {
            ca_pem_file,
            ca_der: ca_cert.der().clone(),
            server_config: Arc::new(server_config),
        }
    }
}

/// The proxy serving a loopback port, as the guest would see it.
pub struct ProxyUnderTest {
    pub addr: SocketAddr,
    pub ca: Arc<CertificateAuthority>,
}

impl ProxyUnderTest {
    pub fn start(role: Role, upstream_ca: &[PathBuf]) -> ProxyUnderTest {
        Self::start_with(role, upstream_ca, ProxyConfig::default(), None)
    }

    pub fn start_with(
        role: Role,
        upstream_ca: &[PathBuf],
        proxy: ProxyConfig,
        dest_port: Option<u16>,
    ) -> ProxyUnderTest {
        let options = NativeOptions {
            system_roots: false,
            extra_ca_files: upstream_ca.to_vec(),
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(20),
            ..NativeOptions::default()
        };
        let upstream = NativeUpstream::new(options).unwrap();
        let ca = Arc::new(CertificateAuthority::generate(unix_now()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = FrontConfig {
            ca: ca.clone(),
            upstream,
            proxy,
            role,
            dest_port,
        };
        std::thread::spawn(move || front::serve(listener, config));
        ProxyUnderTest { addr, ca }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes `testkit::http::pattern_byte` describes, `len` of them.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(testkit::http::pattern_byte).collect()
}
