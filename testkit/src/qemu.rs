//! Builds `qemu-system-x86_64 -M microvm` command lines for our guest image.
//!
//! microvm keeps its default `acpi=on`: the guest kernel finds the virtio-mmio
//! devices in the DSDT, and `poweroff` reaches QEMU through the ACPI Generic
//! Event Device, so QEMU exits when the guest powers off.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::console::Console;
use crate::guest::GuestImage;

/// A QEMU microvm command being assembled.
pub struct Qemu {
    cmd: Command,
    append: String,
    ndev: usize,
}

impl Qemu {
    /// A microvm booting `image`'s bzImage with the given root disk (a copy,
    /// see [`GuestImage::rootfs_copy`]), console on stdio.
    pub fn microvm(image: &GuestImage, rootfs: &Path) -> Qemu {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-M", "microvm", "-m", "256M", "-smp", "1", "-nodefaults", "-no-user-config"])
            .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
            .arg("-kernel")
            .arg(image.bzimage())
            .arg("-drive")
            .arg(format!("id=root,if=none,format=raw,file={}", rootfs.display()))
            .args(["-device", "virtio-blk-device,drive=root"]);
        Qemu { cmd, append: "console=ttyS0 root=/dev/vda rw".into(), ndev: 0 }
    }

    /// Adds a virtio-net device on a netdev given in QEMU syntax without its
    /// id, e.g. `user` or `stream,addr.type=inet,addr.host=127.0.0.1,addr.port=9`.
    pub fn net(mut self, netdev: &str, mac: Option<&str>) -> Qemu {
        self.ndev += 1;
        let id = format!("net{}", self.ndev);
        self.cmd.arg("-netdev").arg(format!("{netdev},id={id}"));
        let mut dev = format!("virtio-net-device,netdev={id}");
        if let Some(mac) = mac {
            dev.push_str(&format!(",mac={mac}"));
        }
        self.cmd.args(["-device", &dev]);
        self
    }

    /// Shares a host directory as 9p with the given mount tag.
    pub fn share(mut self, dir: &Path, tag: &str) -> Qemu {
        self.ndev += 1;
        let id = format!("fs{}", self.ndev);
        self.cmd
            .arg("-fsdev")
            .arg(format!("local,id={id},path={},security_model=none", dir.display()))
            .arg("-device")
            .arg(format!("virtio-9p-device,fsdev={id},mount_tag={tag}"));
        self
    }

    /// Appends to the kernel command line.
    pub fn append(mut self, extra: &str) -> Qemu {
        self.append.push(' ');
        self.append.push_str(extra);
        self
    }

    /// Any other QEMU arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Qemu {
        self.cmd.args(args);
        self
    }

    /// Starts QEMU and returns a console on its serial port.
    pub fn spawn(mut self, name: &str) -> Console {
        self.cmd.arg("-append").arg(&self.append);
        log::info!("spawning {:?}", self.cmd);
        let child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start qemu-system-x86_64 (scripts/setup installs Debian's qemu-system-x86)");
        Console::new(name, child)
    }
}
