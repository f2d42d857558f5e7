//! `netvm-net`: the delegate-mode network daemon (a drop-in for c2w-net).

use netvm_net::host::{cli, server::Server};

fn main() {
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("netvm-net: {e}");
            std::process::exit(2);
        }
    };
    if cli.help {
        print!("{}", cli::USAGE);
        return;
    }
    let default_level = if cli.debug { "debug" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level)).init();
    let result = Server::new(cli.server).and_then(|mut server| server.run());
    if let Err(e) = result {
        eprintln!("netvm-net: {e}");
        std::process::exit(1);
    }
}
