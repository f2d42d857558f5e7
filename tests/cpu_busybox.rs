//! Real programs under the emulator: Debian's static x86_64 busybox runs in
//! the user-mode runner (tests/cpu_linux_user) and its output must equal
//! the same busybox run natively, on the script of tests/busybox_compare.
//! Needs the `busybox-static` package (scripts/deps/apt-cpu.txt).

mod busybox_compare;
mod cpu_linux_user;

use std::path::Path;

use busybox_compare::{Busybox, NATIVE_BUSYBOX};

fn busybox() -> Busybox {
    Busybox::new(Path::new(NATIVE_BUSYBOX))
}

busybox_script_tests!(busybox);
