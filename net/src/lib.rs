//! netvm-net: a user-space network for one or many VMs, on smoltcp.
//!
//! The virtual-network core ([`framing`], [`network`], [`dhcp`], [`dns`],
//! [`tcp_nat`], [`udp_nat`]) touches no OS sockets, so it builds for
//! `wasm32-unknown-unknown` (browser mode). Everything host-specific — the mio
//! event loop, host sockets, the resolver, the listeners — sits behind the
//! [`upstream::Upstream`] trait and the `host` feature. See docs/net.md.

pub mod clock;
pub mod consts;
pub mod device;
pub mod dhcp;
pub mod dns;
pub mod framing;
pub mod icmp_nat;
pub mod memlink;
pub mod name_pool;
pub mod network;
pub mod packet;
pub mod tcp_nat;
pub mod udp_nat;
pub mod upstream;

pub use network::{NetworkConfig, VirtualNetwork};

#[cfg(feature = "host")]
pub mod host;

#[cfg(feature = "proxy")]
pub mod proxy;
