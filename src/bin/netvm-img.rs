//! Image tools for netvm's guest files, as `qemu-img` is for QEMU's:
//!
//!   netvm-img sparse RAW OUT      # a raw disk image as an Android sparse image
//!   netvm-img kernel-segments VMLINUX OUT  # a vmlinux with only its loadable segments
//!
//! `scripts/build-site` uses both to make the page's package small: netvm
//! boots the results (`-drive format=android-sparse`, `-kernel`) as it boots
//! the originals, and the guest sees the same disk and kernel.

use std::process::ExitCode;

use netvm::backends::sparse::to_sparse;
use netvm::machine::boot::loadable_only;

const USAGE: &str = "usage: netvm-img sparse RAW OUT | netvm-img kernel-segments VMLINUX OUT";

fn run(args: &[String]) -> Result<(), String> {
    let [command, input, output] = args else { return Err(USAGE.into()) };
    let data = std::fs::read(input).map_err(|e| format!("reading {input}: {e}"))?;
    let converted = match command.as_str() {
        "sparse" => to_sparse(&data).map_err(|e| format!("{input}: {e}"))?,
        "kernel-segments" => loadable_only(&data).map_err(|e| format!("{input}: {e}"))?,
        other => return Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    std::fs::write(output, &converted).map_err(|e| format!("writing {output}: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netvm-img: {e}");
            ExitCode::FAILURE
        }
    }
}
