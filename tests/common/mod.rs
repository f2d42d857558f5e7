//! Helpers shared by the machine's integration tests. (Each test binary
//! uses its own subset.)
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use testkit::console::Console;
use testkit::guest::GuestImage;

/// The kernel command line the tests boot the guest with: serial console,
/// root on the first virtio disk.
pub const APPEND: &str = "console=ttyS0 root=/dev/vda rw";

/// Starts netvm on `kernel` with 256 MiB of RAM, the kernel command line
/// `append`, `rootfs` as its virtio disk, and `extra` options after those,
/// and returns a console on its serial port (stdin/stdout piped).
pub fn spawn_netvm<S: AsRef<OsStr>>(kernel: &Path, rootfs: &Path, append: &str, extra: &[S]) -> Console {
    let child = Command::new(env!("CARGO_BIN_EXE_netvm"))
        .args(["-nographic", "-m", "256M", "-kernel"])
        .arg(kernel)
        .args(["-append", append, "-drive"])
        .arg(format!("if=virtio,format=raw,file={}", rootfs.display()))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start netvm");
    Console::new("netvm", child)
}

/// Starts netvm on the guest's vmlinux and a root disk, with its virtio-net on
/// a `-netdev socket` connected to `peer` (QEMU stream framing), and returns a
/// console on its serial port.
pub fn netvm_with_socket_nic(image: &GuestImage, rootfs: &Path, peer: &str, mac: Option<&str>) -> Console {
    let device = match mac {
        Some(mac) => format!("virtio-net-pci,netdev=vmnic,mac={mac}"),
        None => "virtio-net-pci,netdev=vmnic".to_string(),
    };
    let netdev = format!("socket,id=vmnic,connect={peer}");
    // `quiet`: the kernel's info messages (e.g. "eth0: link becomes ready"
    // once DHCP brings the link up) share the console with the commands'
    // output and would land inside it at random.
    let append = format!("{APPEND} quiet");
    spawn_netvm(&image.vmlinux(), rootfs, &append, &["-netdev", &netdev, "-device", &device])
}
