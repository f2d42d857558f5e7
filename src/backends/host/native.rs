//! The native host: std's clocks and threads, the process's stdio.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::RunEvent;
use crate::backends::block::{BlockBackend, FileBlock};
use crate::backends::clock::{Clock, HostClock};
use crate::backends::net::{FrameBackend, SocketNet};
use crate::backends::terminal::{StdioTerminal, Terminal};

/// Process-wide setup: SIGPIPE and the logger.
pub fn init() {
    // As QEMU: when whoever reads the console goes away, so does netvm
    // (Rust ignores SIGPIPE by default and the guest would run on unseen).
    // SAFETY: restoring the default disposition of one signal at startup.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
}

/// The host's monotonic and wall clocks.
pub fn clock() -> Box<dyn Clock> {
    Box::new(HostClock::new())
}

/// Blocks for about `ns` nanoseconds while the guest idles; returns the
/// nanoseconds that really passed.
pub fn wait(ns: u64) -> u64 {
    let start = Instant::now();
    std::thread::sleep(Duration::from_nanos(ns));
    start.elapsed().as_nanos() as u64
}

/// The console: stdin/stdout, raw when stdin is a terminal.
pub fn console() -> Box<dyn Terminal> {
    Box::new(StdioTerminal::new())
}

/// No special source of zeroed memory: `calloc` (`vec![0; n]`) gets fresh
/// zero pages from the OS without writing them.
pub fn untouched_zeroed(_size: usize) -> Option<&'static mut [u8]> {
    None
}

/// A raw disk image, used in place.
pub fn open_disk(path: &Path, read_only: bool) -> io::Result<Box<dyn BlockBackend>> {
    Ok(Box::new(FileBlock::open(path, read_only)?))
}

/// A stream socket to `addr` (`host:port`) carrying frames.
pub fn connect_net(addr: &str) -> io::Result<Box<dyn FrameBackend>> {
    Ok(Box::new(SocketNet::connect(addr)?))
}

/// Natively the exit status and stderr say it all; milestones go to the log
/// (progress at debug level: once a second, and only benchmarks read it).
pub fn report(event: RunEvent) {
    match event {
        RunEvent::Progress { instructions, host_ns, idle_ns } => {
            log::debug!("progress: instructions={instructions} host-ns={host_ns} idle-ns={idle_ns}")
        }
        event => log::info!("{event:?}"),
    }
}
