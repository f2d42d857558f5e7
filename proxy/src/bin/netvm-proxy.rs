//! `netvm-proxy`: the proxy on a host TCP port, for trying it with real
//! clients (`curl -x`, `https_proxy=`) and for the benchmark.
//!
//!     netvm-proxy [--listen 127.0.0.1:3128] [--certfile ca.pem]
//!                 [--upstream-ca extra.pem]... [--no-system-roots]
//!                 [--transparent NAME --dest-port PORT]
//!
//! `--transparent` serves every connection as transparent mode does for a
//! DNS-pool address named NAME whose destination port is PORT: TLS
//! (SNI) or plain HTTP (Host), no proxy settings in the client.

use netvm_proxy::native::front::{self, FrontConfig};
use netvm_proxy::native::{NativeOptions, NativeUpstream};
use netvm_proxy::{CertificateAuthority, ProxyConfig, Role};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: netvm-proxy [--listen ADDR] [--certfile FILE] [--upstream-ca FILE]... \
     [--no-system-roots] [--transparent NAME --dest-port PORT]";

fn main() {
    env_logger::init();
    if let Err(e) = run() {
        eprintln!("netvm-proxy: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut listen = "127.0.0.1:3128".to_string();
    let mut certfile: Option<PathBuf> = None;
    let mut options = NativeOptions::default();
    let mut role = Role::ExplicitProxy;
    let mut dest_port: Option<u16> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => listen = value()?,
            "--certfile" => certfile = Some(value()?.into()),
            "--upstream-ca" => options.extra_ca_files.push(value()?.into()),
            "--no-system-roots" => options.system_roots = false,
            "--transparent" => {
                role = Role::Transparent {
                    name: Some(value()?),
                }
            }
            "--dest-port" => {
                dest_port = Some(value()?.parse().map_err(|e| format!("--dest-port: {e}"))?)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let ca = Arc::new(CertificateAuthority::generate(now).map_err(|e| e.to_string())?);
    if let Some(path) = &certfile {
        std::fs::write(path, ca.ca_cert_pem())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let upstream = NativeUpstream::new(options).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(&listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    // The benchmark and tests wait for this line.
    println!(
        "listening on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    if matches!(role, Role::Transparent { .. }) != dest_port.is_some() {
        return Err(format!(
            "--transparent and --dest-port go together\n{USAGE}"
        ));
    }
    let config = FrontConfig {
        ca,
        upstream,
        proxy: ProxyConfig::default(),
        role,
        dest_port,
    };
    front::serve(listener, config).map_err(|e| e.to_string())
}
