//! netvm-net against Debian's QEMU booting our guest image over
//! `-netdev stream` (QEMU 7.2 syntax: addr.type/addr.host/addr.port).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{boot_guest, free_port, Daemon, TempDir};
use testkit::http::HttpServer;

const T: Duration = Duration::from_secs(30);

#[test]
fn guest_gets_dhcp_reaches_the_host_and_pings_the_gateway() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = Daemon::start(&["--listen", &addr]);
    daemon.wait_listening(addr.parse().unwrap());
    let mut routes = HashMap::new();
    routes.insert("/hello".to_string(), b"hello from the host\n".to_vec());
    let http = HttpServer::start("127.0.0.1:0", routes);

    let tmp = TempDir::new("qemu");
    let mut g = boot_guest(&format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"), &tmp.0);

    // The image keeps its lease script outside /etc; name it explicitly.
    let out = g.run_ok("udhcpc -i eth0 -n -q -s /usr/share/udhcpc/default.script", T);
    println!("udhcpc: {out}");
    let out = g.run_ok("ip addr show eth0 || ifconfig eth0", T);
    assert!(out.contains("192.168.127.3"), "no DHCP address: {out}");

    let out = g.run_ok(&format!("wget -q -O - http://192.168.127.254:{}/hello", http.addr.port()), T);
    assert!(out.contains("hello from the host"), "{out}");

    let out = g.run_ok("ping -c1 -W5 192.168.127.1", T);
    assert!(out.contains("1 packets received"), "{out}");
}
