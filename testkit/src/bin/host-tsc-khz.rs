//! Prints the host's TSC frequency in kHz (see `testkit::qemu::host_tsc_khz`),
//! for scripts that start QEMU.
#[cfg(target_arch = "x86_64")]
fn main() {
    println!("{}", testkit::qemu::host_tsc_khz());
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("host-tsc-khz: only x86_64 hosts have the TSC this measures");
    std::process::exit(1);
}
