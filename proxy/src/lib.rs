//! netvm's HTTP/HTTPS proxy, the outbound side of the browser-mode stack.
//!
//! The guest reaches the outside world through HTTP: explicit proxy
//! requests to 192.168.127.253 (`GET http://host/`, `GET https://host/`
//! from busybox wget, `CONNECT host:443`), or — transparent mode — any
//! TCP connection to an address the stack's DNS handed out. Each guest
//! TCP connection becomes a [`ProxyConnection`], a sans-IO state machine
//! that the virtual network feeds bytes and polls; requests leave through
//! an [`Upstream`] (Fetch in the browser, [`native::NativeUpstream`] on a
//! host). TLS from the guest is terminated with certificates issued on the
//! fly by [`CertificateAuthority`]. See docs/proxy.md for the seam.

pub mod buffer;
pub mod ca;
pub mod clock;
pub mod connection;
pub mod http;
pub mod legacy_tls;
pub mod proxy;
pub mod transport;
pub mod upstream;

#[cfg(feature = "native")]
pub mod native;

#[cfg(feature = "fetch")]
pub mod fetch;

pub use ca::CertificateAuthority;
pub use clock::Instant;
pub use connection::{Destination, ProxyConnection, Role};
pub use proxy::{Proxy, ProxyConfig, Timeouts};
pub use upstream::{ErrorKind, Exchange, Upstream, UpstreamError, UpstreamEvent, UpstreamRequest};
