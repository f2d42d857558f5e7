//! Compatibility mode on a real program: Debian's i386 static busybox
//! (package busybox-static, architecture i386) runs in the user-mode runner
//! as 32-bit code under the runner's 64-bit kernel, its system calls
//! arriving through INT 0x80 (tests/cpu_linux_user/i386.rs), and its output
//! must equal the host's native x86_64 busybox of the same version on the
//! script of tests/busybox_compare.
//!
//! The binary comes from `scripts/fetch-busybox-i386` (cached by package
//! version), or from `NETVM_BUSYBOX_I386` (a path) when set. If it cannot
//! be had the tests fail: they never skip.

mod busybox_compare;
mod cpu_linux_user;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use busybox_compare::Busybox;

fn i386_busybox() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("NETVM_BUSYBOX_I386") {
            return PathBuf::from(p);
        }
        let script = testkit::repo_root().join("scripts/fetch-busybox-i386");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}): the i386 busybox is needed",
            script.display(),
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
    .clone()
}

fn busybox() -> Busybox {
    let path = i386_busybox();
    let head = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // ELF32, i386: the runner will take its compatibility-mode path.
    assert!(
        head.len() > 20 && &head[..5] == b"\x7fELF\x01" && head[18] == 3,
        "{} is not an i386 ELF32 executable",
        path.display()
    );
    Busybox::new(&path)
}

busybox_script_tests!(busybox);
