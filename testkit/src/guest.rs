//! Locates the guest image built by `scripts/build-guest`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The files `scripts/build-guest` produces.
#[derive(Debug, Clone)]
pub struct GuestImage {
    pub dir: PathBuf,
}

impl GuestImage {
    pub fn bzimage(&self) -> PathBuf {
        self.dir.join("bzImage")
    }
    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join("vmlinux")
    }
    /// The ext2 root filesystem, attached as `/dev/vda`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs.bin")
    }
    pub fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio.gz")
    }

    /// A private, writable copy of the root filesystem, so tests that write
    /// to the disk neither race each other nor change the cached image.
    pub fn rootfs_copy(&self, into: &Path) -> PathBuf {
        let dst = into.join("rootfs.bin");
        std::fs::copy(self.rootfs(), &dst).expect("copy rootfs.bin");
        dst
    }
}

/// The line `/etc/init.d/rcS` prints once the guest is ready for commands.
pub const READY_LINE: &str = "netvm-guest: ready";

/// Returns the guest image, building it once per test process if needed.
///
/// `NETVM_GUEST_DIR` short-circuits the build (the test script sets it after
/// building once); otherwise `scripts/build-guest` runs, which is a cache hit
/// taking seconds when its inputs are unchanged.
pub fn image() -> GuestImage {
    static IMAGE: OnceLock<GuestImage> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = match std::env::var_os("NETVM_GUEST_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => build(),
            };
            for f in ["bzImage", "vmlinux", "rootfs.bin", "initramfs.cpio.gz"] {
                assert!(dir.join(f).is_file(), "guest image {} lacks {f}", dir.display());
            }
            GuestImage { dir }
        })
        .clone()
}

fn build() -> PathBuf {
    let script = crate::repo_root().join("scripts/build-guest");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(out.status.success(), "{} failed: {}", script.display(), out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    PathBuf::from(last)
}
