//! Builds `qemu-system-x86_64 -M microvm` command lines for our guest image.
//!
//! microvm keeps its default `acpi=on`: the guest kernel finds the virtio-mmio
//! devices in the DSDT, and `poweroff` reaches QEMU through the ACPI Generic
//! Event Device, so QEMU exits when the guest powers off.
//!
//! A hardware-reduced ACPI machine has no PIT or PM timer to calibrate the TSC
//! against, and QEMU's TCG CPU does not report the TSC frequency, so the
//! kernel is told it with `tsc_early_khz=`: under TCG the guest's RDTSC reads
//! the host's TSC, so the host's TSC frequency is the right value.

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
    /// see [`GuestImage::rootfs_copy`]) as `/dev/vda`, console on stdio.
    pub fn microvm(image: &GuestImage, rootfs: &Path) -> Qemu {
        let mut q = Qemu::bare(image, "console=ttyS0 root=/dev/vda rw");
        q.cmd
            .arg("-drive")
            .arg(format!("id=root,if=none,format=raw,file={}", rootfs.display()))
            .args(["-device", "virtio-blk-device,drive=root"]);
        q
    }

    /// A microvm booting `image`'s bzImage with its initramfs as the root
    /// filesystem and no disk.
    pub fn microvm_initramfs(image: &GuestImage) -> Qemu {
        let mut q = Qemu::bare(image, "console=ttyS0");
        q.cmd.arg("-initrd").arg(image.initramfs());
        q
    }

    fn bare(image: &GuestImage, append: &str) -> Qemu {
        // `tsc=reliable`: the TSC is the host's invariant TSC, so the kernel's
        // watchdog, which compares it with jiffies that lag whenever TCG falls
        // behind, must not demote it. `quiet`: kernel messages would
        // interleave with the command output the tests read.
        let append = format!("{append} tsc_early_khz={} tsc=reliable quiet", host_tsc_khz());
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-M", "microvm", "-m", "256M", "-smp", "1", "-nodefaults", "-no-user-config"])
            .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
            .arg("-kernel")
            .arg(image.bzimage());
        Qemu { cmd, append, ndev: 0 }
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

/// The host's TSC frequency in kHz, measured against the monotonic clock over
/// 200 ms (accurate to well under 0.1%, plenty for a guest's clock).
pub fn host_tsc_khz() -> u64 {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    static KHZ: OnceLock<u64> = OnceLock::new();
    *KHZ.get_or_init(|| {
        // SAFETY: RDTSC has no preconditions on x86_64.
        let read = || unsafe { core::arch::x86_64::_rdtsc() };
        let (t0, c0) = (Instant::now(), read());
        std::thread::sleep(Duration::from_millis(200));
        let (t1, c1) = (Instant::now(), read());
        let micros = t1.duration_since(t0).as_micros().max(1) as u64;
        (c1.wrapping_sub(c0)).saturating_mul(1000) / micros
    })
}
