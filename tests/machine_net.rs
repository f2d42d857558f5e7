//! End to end with the network: `netvm -netdev socket,connect=...` joined
//! to a real QEMU-compatible peer, QEMU 7.2's slirp (`-netdev user`) behind
//! a stream netdev on a hub, no guest in QEMU. The guest in netvm gets a
//! DHCP lease from slirp and fetches a page from an HTTP server on the
//! host's loopback (slirp's 10.0.2.2). Host time (netvm's default).

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};

mod common;
use std::time::{Duration, Instant};

use testkit::guest::{self, READY_LINE};
use testkit::http::HttpServer;
use testkit::process::KillOnDrop;

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp,
/// without connecting: QEMU's stream server takes a single client).
fn listening(port: u16) -> bool {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    tcp.lines().any(|l| l.contains(&needle))
}

#[test]
fn guest_gets_a_lease_and_fetches_a_page_through_a_socket_netdev() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(work.path());

    let page = b"hello through slirp and netvm\n".to_vec();
    let http = HttpServer::start("127.0.0.1:0", HashMap::from([("/page.txt".to_string(), page.clone())]));

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _qemu = KillOnDrop(
        Command::new("qemu-system-x86_64")
            .args(["-M", "none", "-nodefaults", "-display", "none"])
            .arg("-netdev")
            .arg(format!("stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"))
            .args(["-netdev", "user,id=u,net=10.0.2.0/24"])
            .args(["-netdev", "hubport,id=h0,hubid=0,netdev=s", "-netdev", "hubport,id=h1,hubid=0,netdev=u"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (package qemu-system-x86) must be installed"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listening(port) {
        assert!(Instant::now() < deadline, "QEMU never listened on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut c = common::netvm_with_socket_nic(&image, &rootfs, &format!("127.0.0.1:{port}"), None);
    c.wait_for(READY_LINE, Duration::from_secs(240));
    let t = Duration::from_secs(90);
    c.run_ok("ip link set eth0 up && udhcpc -i eth0 -n -q -t 10", t);
    let addr = c.run_ok("ip -4 addr show eth0", t);
    assert!(addr.contains("10.0.2.15"), "slirp's lease: {addr}");
    let got = c.run_ok(&format!("wget -q -O - http://10.0.2.2:{}/page.txt", http.addr.port()), t);
    assert_eq!(got.trim(), String::from_utf8_lossy(&page).trim());
    c.send_line("poweroff");
    assert!(c.wait_exit(Duration::from_secs(60)).unwrap().success());
}
