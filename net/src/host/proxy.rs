//! `netvm-net --proxy`: the browser-mode proxy natively, with real sockets
//! as its upstream, so the proxy path runs against real QEMU guests.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Wake, Waker};

use netvm_proxy::native::{NativeOptions, NativeUpstream};
use netvm_proxy::{CertificateAuthority, Proxy, ProxyConfig};

use crate::clock::MonotonicClock;
use crate::network::VirtualNetwork;

/// `--proxy` and its companions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// `--certfile F`: where the CA certificate (PEM) is written at start,
    /// as c2w-net-proxy's `-certfile` (the guest trusts it as `proxy.crt`).
    pub certfile: Option<PathBuf>,
    /// `--upstream-ca F`: extra roots the upstream trusts besides the system's.
    pub upstream_ca: Vec<PathBuf>,
    /// `--transparent`: DNS answers from the name pool, the proxy serves pool
    /// addresses, and there is no NAT (as in the browser).
    pub transparent: bool,
}

/// The daemon's one proxy, shared by every VM's network.
pub struct HostProxy {
    proxy: Rc<Proxy>,
    waker: Waker,
    transparent: bool,
}

/// Upstream threads wake the mio loop, which then polls every network.
struct LoopWaker(Arc<mio::Waker>);

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Err(e) = self.0.wake() {
            log::warn!("cannot wake the event loop: {e}");
        }
    }
}

impl HostProxy {
    /// Makes the CA (writing `--certfile`) and the native upstream.
    pub fn start(options: &ProxyOptions, loop_waker: Arc<mio::Waker>) -> Result<HostProxy, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("system clock before 1970: {e}"))?
            .as_secs() as i64;
        let ca = CertificateAuthority::generate(now).map_err(|e| format!("cannot make the proxy CA: {e}"))?;
        if let Some(path) = &options.certfile {
            std::fs::write(path, ca.ca_cert_pem()).map_err(|e| format!("cannot write --certfile {}: {e}", path.display()))?;
            log::info!("proxy CA certificate written to {}", path.display());
        }
        let native = NativeOptions { extra_ca_files: options.upstream_ca.clone(), ..NativeOptions::default() };
        let upstream = NativeUpstream::new(native).map_err(|e| format!("proxy upstream: {e}"))?;
        let proxy = Rc::new(Proxy::new(Arc::new(ca), Box::new(upstream), ProxyConfig::default()));
        Ok(HostProxy { proxy, waker: Waker::from(Arc::new(LoopWaker(loop_waker))), transparent: options.transparent })
    }

    pub fn transparent(&self) -> bool {
        self.transparent
    }

    /// Serves the proxy on one VM's network.
    pub fn serve(&self, net: &mut VirtualNetwork, clock: MonotonicClock) {
        crate::proxy::serve(net, self.proxy.clone(), self.waker.clone(), clock, self.transparent);
    }
}
