//! Prints the host's TSC frequency in kHz (see `testkit::qemu::host_tsc_khz`),
//! for scripts that start QEMU.
fn main() {
    println!("{}", testkit::qemu::host_tsc_khz());
}
