//! ICMP echo through the host's ping socket, checked in a private network
//! namespace (this test's thread only) where unprivileged ping sockets are
//! switched on: the host machine's own settings are not touched.

use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;

use mio::{Poll, Token, Waker};
use netvm_net::consts::*;
use netvm_net::host::resolver::HostResolver;
use netvm_net::host::upstream::HostUpstream;
use netvm_net::memlink::MemLink;
use netvm_net::NetworkConfig;
use smoltcp::socket::icmp;
use smoltcp::time::Duration;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address};

fn ping(l: &mut MemLink, target: Ipv4Address, seq_no: u16) -> bool {
    let h = l.sockets.add(icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    ));
    l.sockets.get_mut::<icmp::Socket>(h).bind(icmp::Endpoint::Ident(0x4242)).unwrap();
    let repr = Icmpv4Repr::EchoRequest { ident: 0x4242, seq_no, data: b"through the host" };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes), &Default::default());
    l.sockets.get_mut::<icmp::Socket>(h).send_slice(&bytes, IpAddress::Ipv4(target)).unwrap();
    let ok = l.run_until(Duration::from_secs(2), Duration::from_millis(1), |l| {
        std::thread::sleep(std::time::Duration::from_micros(500));
        match l.sockets.get_mut::<icmp::Socket>(h).recv() {
            Ok((data, from)) => {
                let r = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(data).unwrap(), &Default::default()).unwrap();
                assert_eq!(from, IpAddress::Ipv4(target));
                assert!(
                    matches!(r, Icmpv4Repr::EchoReply { ident: 0x4242, seq_no: s, data: b"through the host" } if s == seq_no),
                    "{r:?}"
                );
                true
            }
            Err(_) => false,
        }
    });
    l.sockets.remove(h);
    ok
}

#[test]
fn echo_to_the_host_alias_is_answered_by_the_host_kernel() {
    let host_range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    std::thread::spawn(|| {
        // SAFETY: plain syscall; CLONE_NEWNET moves only this thread.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare(CLONE_NEWNET): {} (the tests run as root)", std::io::Error::last_os_error());
        assert!(Command::new("ip").args(["link", "set", "lo", "up"]).status().unwrap().success());
        std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647").unwrap();

        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let upstream = HostUpstream::new(
            poll.registry().try_clone().unwrap(),
            Token(1),
            HostResolver::new(waker),
            Rc::new(Vec::new()),
            Default::default(),
        );
        let mut l = MemLink::new(NetworkConfig::default(), Box::new(upstream), DEFAULT_GUEST_MAC);
        l.configure_guest(GUEST_IP, GATEWAY_IP);
        assert!(ping(&mut l, HOST_ALIAS_IP, 1), "no echo reply through the ping socket");
        // With the host kernel ignoring pings, silence proves the echo went
        // to the host rather than being answered by the gateway.
        std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1").unwrap();
        assert!(!ping(&mut l, HOST_ALIAS_IP, 2), "answered although the host ignores pings");
        // The gateway itself still answers.
        assert!(ping(&mut l, GATEWAY_IP, 3));
    })
    .join()
    .unwrap();
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap(), host_range);
}
