//! `netvm-pack`: command-line front end of the packager (see lib.rs).

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") || args.is_empty() {
        eprintln!("{}", netvm_pack::cli::USAGE);
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let options = match netvm_pack::cli::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("netvm-pack: {e}");
            return ExitCode::from(2);
        }
    };
    match netvm_pack::pack(&options) {
        Ok(packed) => {
            if options.js_output.is_none() {
                print!("{}", packed.loader);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netvm-pack: {e}");
            ExitCode::FAILURE
        }
    }
}
