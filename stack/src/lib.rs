//! netvm-stack: browser mode's network, in a Web Worker.
//!
//! The guest's Ethernet frames arrive from the page (the WebSocket
//! interceptor, `netvm-browser-net.js`) as a byte stream in QEMU stream
//! framing. Each stream is one [`Link`]: a `netvm_net::VirtualNetwork`
//! with DHCP, DNS and the HTTP/HTTPS proxy at 192.168.127.253:80/443
//! (`netvm_net::proxy::serve`) whose upstream is `fetch()`
//! (`netvm_proxy::fetch::FetchUpstream`). There is no NAT: the browser
//! offers no sockets, so other TCP gets a RST (see docs/stack.md).
//!
//! One [`Service`] per worker owns the proxy's certificate authority, so
//! every link (and a reconnecting emulator) sees the same CA; only its
//! certificate leaves (`Service::ca_pem`), never its key.
//!
//! Nothing here blocks. Time is `performance.now()`; the network's timers
//! and every settled fetch promise schedule a poll on the worker's event
//! loop (`driver`).
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

mod clock;
mod driver;
mod logger;

pub use driver::{Link, Service};
