//! Child processes that tests start and must not leave behind.

use std::process::Child;

/// Kills and reaps the child when dropped, so a failing test (a panic
/// unwinding through it) leaves no QEMU or server running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
