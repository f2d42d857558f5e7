//! Link transports and many VMs: test clients speaking QEMU's stream
//! protocol over TCP, unix sockets and `--connect`.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{dhcp_discover, dhcp_offer_address, free_port, Daemon, TempDir};
use netvm_net::consts::{DHCP_POOL_FIRST, GUEST_IP};
use netvm_net::framing::{encoded, FrameDecoder};

/// Sends a DHCPDISCOVER over a stream link and returns the offered address.
fn dhcp_over<S: Read + Write>(link: &mut S, mac: [u8; 6], xid: u32) -> Ipv4Addr {
    link.write_all(&encoded(&dhcp_discover(mac, xid))).unwrap();
    let mut dec = FrameDecoder::default();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = link.read(&mut buf).unwrap();
        assert!(n > 0, "link closed before the offer");
        dec.push(&buf[..n]);
        while let Some(frame) = dec.next_frame().unwrap() {
            if let Some(ip) = dhcp_offer_address(&frame, xid) {
                return ip;
            }
        }
    }
    panic!("no DHCP offer");
}

fn tcp(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn hundred_connect_disconnect_cycles_then_ten_vms_at_once() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut d = Daemon::start(&["--listen", &addr]);
    d.wait_listening(addr.parse().unwrap());
    for i in 0..100u32 {
        let mut link = tcp(&addr);
        // Half the cycles leave mid-frame, as a crashing VM would.
        if i % 2 == 1 {
            link.write_all(&encoded(&dhcp_discover([2, 0, 0, 0, 0, 1], i))[..20]).unwrap();
            continue;
        }
        assert_eq!(dhcp_over(&mut link, [2, 0, 0, 0, 0, 1], i), GUEST_IP);
    }
    // Ten VMs connected together, each with its own network: each one's
    // static MAC gets .3 and another MAC the first pool address.
    let mut links: Vec<TcpStream> = (0..10).map(|_| tcp(&addr)).collect();
    for (i, link) in links.iter_mut().enumerate() {
        assert_eq!(dhcp_over(link, [2, 0, 0, 0, 0, 1], 1000 + i as u32), GUEST_IP);
    }
    for (i, link) in links.iter_mut().enumerate().rev() {
        let other = dhcp_over(link, [2, 0, 0, 0, 7, i as u8], 2000 + i as u32);
        assert_eq!(other, Ipv4Addr::new(192, 168, 127, DHCP_POOL_FIRST));
    }
    assert!(d.child.try_wait().unwrap().is_none(), "daemon died");
}

#[test]
fn unix_socket_links_work() {
    let dir = TempDir::new("unix");
    let path = dir.0.join("net.sock");
    let _d = Daemon::start(&["--listen-unix", path.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut link = loop {
        match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("cannot connect to {}: {e}", path.display()),
        }
    };
    link.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(dhcp_over(&mut link, [2, 0, 0, 0, 0, 1], 5), GUEST_IP);
}

#[test]
fn connect_mode_serves_the_listening_vm_and_exits_when_it_leaves() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // c2w-net's form: the QEMU socket address as the bare argument.
    let mut d = Daemon::start(&["--mac", "02:00:00:00:00:05", &addr]);
    let (mut link, _) = listener.accept().unwrap();
    link.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(dhcp_over(&mut link, [2, 0, 0, 0, 0, 5], 9), GUEST_IP);
    drop(link);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "daemon did not exit after its only link closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}
