//! Helpers shared by the machine's integration tests.

use std::path::Path;
use std::process::{Command, Stdio};

use testkit::console::Console;
use testkit::guest::GuestImage;

/// Starts netvm on the guest's vmlinux and a root disk, with its virtio-net on
/// a `-netdev socket` connected to `peer` (QEMU stream framing), and returns a
/// console on its serial port.
pub fn netvm_with_socket_nic(image: &GuestImage, rootfs: &Path, peer: &str, mac: Option<&str>) -> Console {
    let device = match mac {
        Some(mac) => format!("virtio-net-pci,netdev=vmnic,mac={mac}"),
        None => "virtio-net-pci,netdev=vmnic".to_string(),
    };
    let child = Command::new(env!("CARGO_BIN_EXE_netvm"))
        .args(["-nographic", "-m", "256M", "-kernel"])
        .arg(image.vmlinux())
        // `quiet`: the kernel's info messages (e.g. "eth0: link becomes
        // ready" once DHCP brings the link up) share the console with the
        // commands' output and would land inside it at random.
        .args(["-append", "console=ttyS0 root=/dev/vda rw quiet", "-drive"])
        .arg(format!("if=virtio,format=raw,file={}", rootfs.display()))
        .arg("-netdev")
        .arg(format!("socket,id=vmnic,connect={peer}"))
        .args(["-device", &device])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start netvm");
    Console::new("netvm", child)
}
