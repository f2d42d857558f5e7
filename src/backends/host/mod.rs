//! What differs between running natively and in the browser, in one place:
//! the clock, waiting while the guest idles, the console, how a disk image
//! and a network socket are opened, logging, and telling the embedder how
//! the run goes.
//!
//! The binary (`src/main.rs`) builds its machine from these functions; the
//! devices get the backends they return and never learn where they run.
//! One implementation is compiled per target:
//!
//! - `native`: std's clocks and sleep, stdin/stdout in raw mode, the disk
//!   image file used in place, a blocking TCP connect.
//! - `emscripten` (wasm32-unknown-emscripten, in a pthread of the page):
//!   `performance.now()` and `Atomics.wait` through `ffi/`, because std's
//!   time calls are wrong under emscripten 3.1.6 (docs/browser.md); the
//!   console on xterm-pty through `netvm-pty-bridge`, with output batched
//!   and input polled at a bounded rate (every system call from the pthread
//!   is a round trip to the page's main thread); the disk image read once
//!   into memory in large chunks; the socket connected without blocking,
//!   which emscripten turns into a WebSocket to `Module.websocket.url`.

#[cfg(not(target_os = "emscripten"))]
mod native;
#[cfg(not(target_os = "emscripten"))]
pub use native::*;

#[cfg(target_os = "emscripten")]
mod emscripten;
#[cfg(target_os = "emscripten")]
pub use emscripten::*;

/// Milestones of a run, for the embedder (the page's status line in the
/// browser; the log natively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The machine is built and the kernel starts.
    Booting,
    /// The guest stopped; the text says how (powered off, reset, ...).
    Stopped(String),
    /// Setting up failed.
    Failed(String),
    /// The guest has executed `instructions` instructions when the host's
    /// monotonic clock (this host's `clock()`) reads `host_ns`; about once
    /// a second while it runs, for benchmarks (scripts/bench-browser).
    /// `idle_ns`: host time spent so far waiting while the guest was idle
    /// (halted), which a rate of the guest's own work leaves out.
    Progress { instructions: u64, host_ns: u64, idle_ns: u64 },
}
