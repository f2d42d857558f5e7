//! Which servers the native upstream trusts: the system's roots plus the
//! CA files given on the command line.

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub enum RootsError {
    File { path: PathBuf, message: String },
    NoRoots,
    Rustls(String),
}

impl fmt::Display for RootsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootsError::File { path, message } => {
                write!(f, "CA file {}: {message}", path.display())
            }
            RootsError::NoRoots => write!(
                f,
                "no trusted root certificates (no system roots, no --upstream-ca)"
            ),
            RootsError::Rustls(m) => write!(f, "TLS client configuration: {m}"),
        }
    }
}

impl std::error::Error for RootsError {}

pub fn client_config(
    system_roots: bool,
    extra: &[PathBuf],
) -> Result<Arc<rustls::ClientConfig>, RootsError> {
    let mut store = RootCertStore::empty();
    if system_roots {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            log::warn!("system root certificates: {e}");
        }
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        log::debug!("{added} system root certificates ({ignored} unusable)");
    }
    for path in extra {
        for cert in read_pem_certs(path)? {
            store.add(cert).map_err(|e| RootsError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }
    }
    if store.is_empty() {
        return Err(RootsError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| RootsError::Rustls(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RootsError> {
    let err = |message: String| RootsError::File {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(certs)
}
