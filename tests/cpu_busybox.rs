//! Real programs under the emulator: Debian's static x86_64 busybox runs in
//! the user-mode runner (tests/cpu_linux_user) and its output must equal
//! the same busybox run natively, on the script of tests/busybox_compare.
//! Needs the `busybox-static` package (scripts/deps/apt-cpu.txt).

mod busybox_compare;
mod cpu_linux_user;

use std::path::Path;

use busybox_compare::{Busybox, NATIVE_BUSYBOX};

/// Not a test: the runner process when re-executed (see busybox_compare).
#[test]
fn runner_entry_point() {
    busybox_compare::runner_entry_point();
}

fn busybox() -> Busybox {
    Busybox::new(Path::new(NATIVE_BUSYBOX))
}

#[test]
fn echo_and_seq() {
    busybox_compare::echo_and_seq(&busybox());
}

#[test]
fn hashes() {
    busybox_compare::hashes(&busybox());
}

#[test]
fn text_tools() {
    busybox_compare::text_tools(&busybox());
}

#[test]
fn awk_floats_and_printf() {
    busybox_compare::awk_floats_and_printf(&busybox());
}

#[test]
fn calculators_and_compressors() {
    busybox_compare::calculators_and_compressors(&busybox());
}

#[test]
fn shell_pipelines() {
    busybox_compare::shell_pipelines(&busybox());
}

#[test]
fn numbers_and_files() {
    busybox_compare::numbers_and_files(&busybox());
}
