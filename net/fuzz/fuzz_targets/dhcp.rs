//! The DHCP server on arbitrary messages: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm_net::consts::DEFAULT_GUEST_MAC;
use netvm_net::dhcp::DhcpServer;

fuzz_target!(|data: &[u8]| {
    let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
    let _ = server.handle(data);
    let _ = server.handle(data);
});
