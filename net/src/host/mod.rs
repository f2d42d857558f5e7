//! Everything that touches the host OS (feature `host`): host sockets behind
//! [`crate::upstream::Upstream`], the resolver, the link transports, the mio
//! event loop and the command line.

pub mod cli;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod resolver;
pub mod server;
pub mod transport;
pub mod upstream;
pub mod ws;
