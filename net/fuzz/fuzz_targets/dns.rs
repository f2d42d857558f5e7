//! The DNS server on arbitrary queries, with an isolated upstream: every
//! reply it produces must itself be a well-formed DNS message.
#![no_main]

use std::net::SocketAddrV4;

use libfuzzer_sys::fuzz_target;
use netvm_net::dns::DnsServer;
use netvm_net::upstream::Isolated;
use smoltcp::time::Instant;

fuzz_target!(|data: &[u8]| {
    let mut server = DnsServer::new();
    let client = SocketAddrV4::new([192, 168, 127, 3].into(), 5353);
    let mut replies = Vec::new();
    replies.extend(server.on_query(data, client, &mut Isolated, Instant::ZERO));
    replies.extend(server.poll(Instant::from_secs(100)).into_iter().map(|(_, r)| r));
    for r in replies {
        assert!(r.len() >= 12, "reply shorter than a DNS header");
    }
});
