//! Noticing terminal resizes: SIGWINCH sets a flag the run loop takes.
//!
//! Natively the kernel sends SIGWINCH to the terminal's foreground process
//! group; in the browser xterm-pty raises it when xterm.js is resized.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static RESIZED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

extern "C" fn on_sigwinch(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RESIZED.store(true, Ordering::SeqCst);
}

/// A handle on the process-wide SIGWINCH flag.
#[derive(Debug, Clone, Copy)]
pub struct ResizeWatch(());

impl ResizeWatch {
    /// Installs the SIGWINCH handler (once per process).
    pub fn install() -> std::io::Result<Self> {
        let result = INSTALLED.get_or_init(|| {
            // SAFETY: a handler that only stores to an atomic; sigaction is
            // zero-initialised plain data.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_sigwinch as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(ResizeWatch(())),
            Err(code) => Err(std::io::Error::from_raw_os_error(*code)),
        }
    }

    /// Whether the terminal was resized since the last call.
    pub fn take(&self) -> bool {
        RESIZED.swap(false, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigwinch_sets_the_flag_once() {
        let w = ResizeWatch::install().unwrap();
        w.take();
        // SAFETY: raising a signal whose handler we installed.
        assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        assert!(w.take());
        assert!(!w.take());
    }
}
