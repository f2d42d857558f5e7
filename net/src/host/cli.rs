//! Command line, compatible with container2wasm's `c2w-net` (a Go program:
//! flags take one or two dashes and `-flag=value` or `-flag value`; a bare
//! address argument means "connect to this QEMU socket").

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use smoltcp::wire::EthernetAddress;

use super::server::{Forward, ServerConfig};

pub const USAGE: &str = "\
usage: netvm-net [options] [ADDR]

Gives each connected VM its own network 192.168.127.0/24 (gateway .1 with
DHCP and DNS, guest .3, host loopback as .254) over QEMU's stream framing.

  --listen-ws ADDR      accept WebSocket links (emscripten / browsers) on ADDR
  --listen ADDR         accept raw links (qemu -netdev stream/socket) on ADDR
  --listen-unix PATH    accept raw links on a unix socket
  --connect ADDR        connect to a QEMU listening on ADDR (also: bare ADDR)
  --mac MAC             MAC that gets 192.168.127.3 (default 02:00:00:00:00:01)
  -p [IP:]HOST:GUEST    forward host TCP port HOST (on IP, default 0.0.0.0) to guest port GUEST
  --allow-origin ORIGIN also accept WebSockets from this page origin (repeatable, * for any)
  --proxy               serve the HTTP/HTTPS proxy on 192.168.127.253:80 and :443
  --certfile FILE       (with --proxy) write the proxy's CA certificate (PEM) to FILE
  --upstream-ca FILE    (with --proxy) also trust these CA certificates upstream (repeatable)
  --transparent         (with --proxy) DNS answers every name from a private pool whose
                        addresses the proxy serves on any port; no NAT, as in the browser
  --debug               log debug messages (or set RUST_LOG)
  -h, --help            this text
";

/// Parsed command line.
#[derive(Debug, Clone, Default)]
pub struct Cli {
    pub server: ServerConfig,
    /// Proxy flags seen, checked against `--proxy` at the end.
    #[cfg(feature = "proxy")]
    proxy_flags: super::proxy::ProxyOptions,
    #[cfg(feature = "proxy")]
    proxy: bool,
    pub debug: bool,
    pub help: bool,
}

/// Resolves `host:port`, preferring IPv4 like Go's `net.Listen("tcp", "localhost:…")` does.
pub fn resolve_addr(s: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = s.to_socket_addrs().map_err(|e| format!("bad address {s:?}: {e}"))?.collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().ok_or_else(|| format!("{s:?} resolves to nothing"))
}

pub fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!("bad MAC {s:?}: want six hex bytes"));
    }
    let mut b = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        b[i] = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC {s:?}: {p:?} is not a hex byte"))?;
    }
    let mac = EthernetAddress(b);
    if !mac.is_unicast() {
        return Err(format!("bad MAC {s:?}: not a unicast address"));
    }
    Ok(mac)
}

/// `[IP:]HOSTPORT:GUESTPORT`, as c2w-net's `-p`.
pub fn parse_forward(s: &str) -> Result<Forward, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (ip, host_port, guest_port) = match parts.as_slice() {
        [h, g] => ("0.0.0.0", *h, *g),
        [ip, h, g] => (*ip, *h, *g),
        _ => return Err(format!("bad -p {s:?}: want [IP:]HOSTPORT:GUESTPORT")),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("bad -p {s:?}: bad port {p:?}"));
    let (host_port, guest_port) = (port(host_port)?, port(guest_port)?);
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("bad -p {s:?}: bad IP {ip:?}"))?;
    Ok(Forward { host: SocketAddr::new(ip, host_port), guest_port })
}

/// Parses arguments (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') || arg == "-" {
            cli.server.connect.push(resolve_addr(&arg)?);
            continue;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let mut value = |inline: Option<String>| -> Result<String, String> {
            inline.or_else(|| args.next()).ok_or_else(|| format!("{arg} needs a value"))
        };
        match name {
            "h" | "help" => cli.help = true,
            "debug" => cli.debug = inline.is_none_or(|v| v != "false"),
            "listen-ws" => cli.server.listen_ws.push(resolve_addr(&value(inline)?)?),
            "listen" => cli.server.listen.push(resolve_addr(&value(inline)?)?),
            "listen-unix" => cli.server.listen_unix.push(PathBuf::from(value(inline)?)),
            "connect" => cli.server.connect.push(resolve_addr(&value(inline)?)?),
            "mac" => cli.server.guest_mac = parse_mac(&value(inline)?)?,
            "p" => cli.server.forwards.push(parse_forward(&value(inline)?)?),
            "allow-origin" => {
                for o in value(inline)?.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    cli.server.allowed_origins.push(o.to_string());
                }
            }
            #[cfg(feature = "proxy")]
            "proxy" => cli.proxy = inline.is_none_or(|v| v != "false"),
            #[cfg(feature = "proxy")]
            "certfile" => cli.proxy_flags.certfile = Some(PathBuf::from(value(inline)?)),
            #[cfg(feature = "proxy")]
            "upstream-ca" => cli.proxy_flags.upstream_ca.push(PathBuf::from(value(inline)?)),
            #[cfg(feature = "proxy")]
            "transparent" => cli.proxy_flags.transparent = inline.is_none_or(|v| v != "false"),
            _ => return Err(format!("unknown flag {arg}\n\n{USAGE}")),
        }
    }
    #[cfg(feature = "proxy")]
    if cli.proxy {
        cli.server.proxy = Some(cli.proxy_flags.clone());
    } else if cli.proxy_flags != super::proxy::ProxyOptions::default() {
        return Err(format!("--certfile, --upstream-ca and --transparent need --proxy\n\n{USAGE}"));
    }
    let s = &cli.server;
    if !cli.help && s.listen_ws.is_empty() && s.listen.is_empty() && s.listen_unix.is_empty() && s.connect.is_empty() {
        return Err(format!("nothing to do: give --listen-ws, --listen, --listen-unix or --connect\n\n{USAGE}"));
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn c2w_net_command_lines_parse() {
        let cli = parse(args("--listen-ws localhost:9999")).unwrap();
        assert_eq!(cli.server.listen_ws, vec!["127.0.0.1:9999".parse().unwrap()]);
        let cli = parse(args("-debug -mac 02:00:00:00:00:09 -p 8080:80 -p 127.0.0.1:2222:22 127.0.0.1:1234")).unwrap();
        assert!(cli.debug);
        assert_eq!(cli.server.guest_mac, EthernetAddress([2, 0, 0, 0, 0, 9]));
        assert_eq!(
            cli.server.forwards,
            vec![
                Forward { host: "0.0.0.0:8080".parse().unwrap(), guest_port: 80 },
                Forward { host: "127.0.0.1:2222".parse().unwrap(), guest_port: 22 }
            ]
        );
        assert_eq!(cli.server.connect, vec!["127.0.0.1:1234".parse().unwrap()]);
    }

    #[test]
    fn other_transports_and_origins() {
        let cli = parse(args("--listen=127.0.0.1:0 --listen-unix /tmp/x.sock --allow-origin https://a.example,https://b.example"))
            .unwrap();
        assert_eq!(cli.server.listen.len(), 1);
        assert_eq!(cli.server.listen_unix, vec![PathBuf::from("/tmp/x.sock")]);
        assert_eq!(cli.server.allowed_origins, vec!["https://a.example", "https://b.example"]);
    }

    #[cfg(feature = "proxy")]
    #[test]
    fn proxy_flags() {
        let cli = parse(args("--listen 127.0.0.1:1 --proxy --certfile /tmp/p.crt --upstream-ca a.pem -upstream-ca=b.pem")).unwrap();
        let p = cli.server.proxy.unwrap();
        assert_eq!(p.certfile, Some(PathBuf::from("/tmp/p.crt")));
        assert_eq!(p.upstream_ca, vec![PathBuf::from("a.pem"), PathBuf::from("b.pem")]);
        assert!(!p.transparent);
        assert!(parse(args("--listen 127.0.0.1:1 --proxy --transparent")).unwrap().server.proxy.unwrap().transparent);
        assert!(parse(args("--listen 127.0.0.1:1")).unwrap().server.proxy.is_none());
        assert!(parse(args("--listen 127.0.0.1:1 --certfile x")).is_err(), "--certfile without --proxy");
    }

    #[test]
    fn bad_input_is_explained() {
        for bad in ["", "--mac 01:00:00:00:00:01 --listen 127.0.0.1:1", "--mac zz --listen 127.0.0.1:1", "-p 1:2:3:4 --listen 127.0.0.1:1", "-p 0:80 --listen 127.0.0.1:1", "--frobnicate", "--listen"] {
            assert!(parse(args(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
