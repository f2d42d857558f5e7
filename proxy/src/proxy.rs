//! What every connection shares: the CA, the upstream, the settings.

use crate::ca::CertificateAuthority;
use crate::http::Limits;
use crate::upstream::Upstream;
use std::sync::Arc;
use std::time::Duration;

/// How long the proxy waits for each thing before giving up; none of them
/// can be infinite, so no connection ever hangs.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request head's first byte (or a TLS handshake's) to its end.
    pub request_head: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_idle: Duration,
    /// From the request (or its last body byte) to the response head.
    pub response_head: Duration,
    /// A response body with no progress in either direction for this long is cut.
    pub body_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request_head: Duration::from_secs(30),
            keep_alive_idle: Duration::from_secs(120),
            response_head: Duration::from_secs(90),
            body_idle: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ProxyConfig {
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Capacity of each of a connection's four byte queues.
    pub queue_size: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            queue_size: 64 * 1024,
        }
    }
}

pub struct Proxy {
    ca: Arc<CertificateAuthority>,
    upstream: Box<dyn Upstream>,
    config: ProxyConfig,
}

impl Proxy {
    /// The CA is shared (`Arc`) so that several proxies — one per thread
    /// natively — present certificates from the same authority.
    pub fn new(
        ca: Arc<CertificateAuthority>,
        upstream: Box<dyn Upstream>,
        config: ProxyConfig,
    ) -> Proxy {
        Proxy {
            ca,
            upstream,
            config,
        }
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    pub fn upstream(&self) -> &dyn Upstream {
        self.upstream.as_ref()
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }
}
