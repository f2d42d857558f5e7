//! Delegate mode natively: netvm's virtio-net on a `-netdev socket` connected
//! to netvm-net (run in this process, listening on loopback), with the seed's
//! guest steps: a DHCP lease of 192.168.127.3, a page from the host through
//! 192.168.127.254, and a ping to the gateway.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use testkit::guest::{self, READY_LINE};
use testkit::http::HttpServer;

mod common;

/// Starts netvm-net with `--listen 127.0.0.1:0` on a thread; returns its address.
fn start_netvm_net() -> std::net::SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let cli = netvm_net::host::cli::parse(["--listen".to_string(), "127.0.0.1:0".to_string()]).unwrap();
        let mut server = netvm_net::host::server::Server::new(cli.server).expect("start netvm-net");
        tx.send(server.local_addrs()[0]).unwrap();
        if let Err(e) = server.run() {
            panic!("netvm-net stopped: {e}");
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("netvm-net listening")
}

#[test]
fn seed_steps_get_a_lease_and_a_page_from_netvm_net() {
    let image = guest::image();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(tmp.path());
    let mut routes = HashMap::new();
    routes.insert("/page.txt".to_string(), b"served by the host through netvm-net\n".to_vec());
    let http = HttpServer::start("127.0.0.1:0", routes);
    let net = start_netvm_net();

    // netvm-net leases 192.168.127.3 to its --mac, 02:00:00:00:00:01 by default.
    let mut vm = common::netvm_with_socket_nic(&image, &rootfs, &net.to_string(), Some("02:00:00:00:00:01"));
    vm.wait_for(READY_LINE, Duration::from_secs(240));
    let t = Duration::from_secs(90);
    vm.run_ok("mount -t tmpfs tmpfs /etc", t);
    vm.run_ok("touch /etc/hosts /etc/resolv.conf", t);
    let lease = vm.run_ok("udhcpc -i eth0", t);
    assert!(lease.contains("192.168.127.3"), "netvm-net's lease:\n{lease}");
    let resolv = vm.run_ok("cat /etc/resolv.conf", t);
    assert!(resolv.contains("nameserver 192.168.127.1"), "{resolv}");
    let page = vm.run_ok(&format!("wget -q -O - http://192.168.127.254:{}/page.txt", http.addr.port()), t);
    assert_eq!(page.trim(), "served by the host through netvm-net");
    vm.run_ok("ping -c1 192.168.127.1", t);
    vm.send_line("poweroff");
    assert!(vm.wait_exit(Duration::from_secs(60)).unwrap().success());
}
