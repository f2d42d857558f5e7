//! Shared pieces of the integration tests: the daemon as a child process and
//! a booted guest on it.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::console::Console;
use testkit::qemu::Qemu;

/// The `netvm-net` binary running with `args`; killed on drop.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn start(args: &[&str]) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_netvm-net"))
            .args(args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netvm-net");
        Daemon { child }
    }

    /// Waits until `addr` accepts connections (the daemon is up).
    pub fn wait_listening(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("netvm-net exited early: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "netvm-net not listening on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Boots the guest image with its NIC on `netdev` and waits for its shell.
pub fn boot_guest(netdev: &str, tmp: &std::path::Path) -> Console {
    let image = testkit::guest::image();
    let rootfs = image.rootfs_copy(tmp);
    let mut console = Qemu::microvm(&image, &rootfs).net(netdev, Some("02:00:00:00:00:01")).spawn("guest");
    console.wait_for(testkit::guest::READY_LINE, Duration::from_secs(90));
    console.send_line("");
    console
}

/// A scratch directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("netvm-net-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A DHCPDISCOVER from `mac`, as a guest would broadcast it.
pub fn dhcp_discover(mac: [u8; 6], xid: u32) -> Vec<u8> {
    use dhcproto::v4::{DhcpOption, Message, MessageType};
    use dhcproto::Encodable;
    use std::net::{Ipv4Addr, SocketAddrV4};
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(xid, z, z, z, z, &mac);
    m.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
    netvm_net::packet::udp_frame_from(
        smoltcp::wire::EthernetAddress(mac),
        smoltcp::wire::EthernetAddress::BROADCAST,
        SocketAddrV4::new(z, 68),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        &m.to_vec().unwrap(),
    )
    .unwrap()
}

/// The address offered in a DHCP reply frame, if `frame` is one for `xid`.
pub fn dhcp_offer_address(frame: &[u8], xid: u32) -> Option<std::net::Ipv4Addr> {
    use dhcproto::v4::Message;
    use dhcproto::Decodable;
    match netvm_net::packet::parse(frame).ok()? {
        netvm_net::packet::Parsed::Udp { dst, payload, .. } if dst.port() == 68 => {
            let m = Message::from_bytes(payload).ok()?;
            (m.xid() == xid).then(|| m.yiaddr())
        }
        _ => None,
    }
}
