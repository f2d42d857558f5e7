//! Test tools shared by netvm's integration tests.
//!
//! Every piece here drives a *real* component: the guest image is built by
//! `scripts/build-guest`, QEMU is Debian's `qemu-system-x86_64`, and the HTTP
//! server listens on a real loopback socket.

pub mod console;
pub mod guest;
pub mod http;
pub mod process;
// QEMU for x86_64 guests runs on x86_64 hosts only (it reads the host TSC);
// the browser build compiles dev-dependencies for wasm too.
#[cfg(target_arch = "x86_64")]
pub mod qemu;

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the repository root")
        .to_path_buf()
}
