//! netvm-net against Debian's QEMU booting our guest image over
//! `-netdev stream` (QEMU 7.2 syntax: server=off,addr.type=inet,addr.host,
//! addr.port). One boot serves every check, since a TCG boot is the slow part.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{boot_guest, free_port, Daemon, TempDir};
use sha2::{Digest, Sha256};
use testkit::console::Console;
use testkit::http::{pattern_byte, HttpServer};

const T: Duration = Duration::from_secs(60);
const BIG: u64 = 64 << 20;

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn pattern_sha256(len: u64) -> String {
    let mut h = Sha256::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(chunk.len() as u64) as usize;
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern_byte(off + i as u64);
        }
        h.update(&chunk[..n]);
        off += n as u64;
    }
    hex(&h.finalize())
}

/// A TCP sink on loopback that hashes exactly `len` bytes and then closes.
fn sha256_sink(len: u64) -> (u16, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut h = Sha256::new();
        let mut left = len;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let n = c.read(&mut buf[..(left.min(1 << 16) as usize)]).unwrap();
            assert!(n > 0, "upload ended {left} bytes early");
            h.update(&buf[..n]);
            left -= n as u64;
        }
        hex(&h.finalize())
    });
    (port, t)
}

fn dhcp(g: &mut Console) {
    let out = g.run_ok("udhcpc -i eth0 -n -q", T);
    assert!(out.contains("lease of 192.168.127.3 obtained"), "{out}");
    let out = g.run_ok("ip addr show eth0", T);
    assert!(out.contains("inet 192.168.127.3/24"), "no DHCP address: {out}");
}

#[test]
fn guest_network_over_listen() {
    let port = free_port();
    let fwd = free_port();
    let addr = format!("127.0.0.1:{port}");
    let fwd_spec = format!("127.0.0.1:{fwd}:8080");
    let mut daemon = Daemon::start(&["--listen", &addr, "-p", &fwd_spec]);
    daemon.wait_listening(addr.parse().unwrap());
    let mut routes = HashMap::new();
    routes.insert("/hello".to_string(), b"hello from the host\n".to_vec());
    let http = HttpServer::start("127.0.0.1:0", routes);
    let hp = http.addr.port();

    let tmp = TempDir::new("qemu-listen");
    let mut g = boot_guest(&format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"), &tmp.0);
    dhcp(&mut g);

    // TCP NAT to the host's loopback, by address and by name.
    let out = g.run_ok(&format!("wget -q -O - http://192.168.127.254:{hp}/hello"), T);
    assert!(out.contains("hello from the host"), "{out}");
    let out = g.run_ok(&format!("wget -q -O - http://host.containers.internal:{hp}/hello"), T);
    assert!(out.contains("hello from the host"), "{out}");
    // Refusal is immediate (RST), not a timeout.
    let closed = free_port();
    let t0 = Instant::now();
    let (out, status) = g.run(&format!("wget -q -O - http://192.168.127.254:{closed}/"), T);
    assert_ne!(status, 0, "{out}");
    assert!(t0.elapsed() < Duration::from_secs(10), "refusal took {:?}", t0.elapsed());
    // The daemon's own listener is not reachable through its NAT.
    let (out, status) = g.run(&format!("wget -q -O - http://192.168.127.254:{port}/"), T);
    assert_ne!(status, 0, "guest reached netvm-net's own listener: {out}");

    // DNS through the gateway: static names, the host resolver, honest NXDOMAIN.
    let out = g.run_ok("nslookup host.containers.internal", T);
    assert!(out.contains("192.168.127.254"), "{out}");
    let out = g.run_ok("nslookup localhost 192.168.127.1", T);
    assert!(out.contains("192.168.127.254"), "{out}");
    let (out, _) = g.run("nslookup no-such-host.invalid", T);
    assert!(out.contains("NXDOMAIN") || out.contains("can't find"), "{out}");

    // ICMP echo to the gateway.
    let out = g.run_ok("ping -c1 -W5 192.168.127.1", T);
    assert!(out.contains("1 packets received"), "{out}");

    // A port forward reaching `nc -l` in the guest.
    g.run_ok("(nc -l -p 8080 > /tmp/fwd.txt &) ; sleep 1", T);
    let mut c = TcpStream::connect(("127.0.0.1", fwd)).unwrap();
    c.write_all(b"forwarded hello\n").unwrap();
    drop(c);
    let mut seen = String::new();
    for _ in 0..50 {
        seen = g.run_ok("cat /tmp/fwd.txt", T);
        if seen.contains("forwarded hello") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(seen.contains("forwarded hello"), "port forward did not arrive: {seen:?}");

    // 64 MiB down and up, checked with sha256 on both ends.
    let want = pattern_sha256(BIG);
    let t0 = Instant::now();
    let out = g.run_ok(&format!("wget -q -O /tmp/big http://192.168.127.254:{hp}/pattern/{BIG} && sha256sum /tmp/big"), Duration::from_secs(600));
    let down = t0.elapsed();
    assert!(out.contains(&want), "download sha256 mismatch: {out} (want {want})");
    let (sink, hashed) = sha256_sink(BIG);
    let t0 = Instant::now();
    g.run(&format!("nc 192.168.127.254 {sink} < /tmp/big"), Duration::from_secs(600));
    assert_eq!(hashed.join().unwrap(), want, "upload sha256 mismatch");
    let up = t0.elapsed();
    println!(
        "64 MiB download {:.1}s ({:.1} MB/s), upload {:.1}s ({:.1} MB/s)",
        down.as_secs_f64(),
        BIG as f64 / 1e6 / down.as_secs_f64(),
        up.as_secs_f64(),
        BIG as f64 / 1e6 / up.as_secs_f64()
    );
    g.run("rm -f /tmp/big", T);
}

/// Bridges QEMU's stream socket to a WebSocket the way emscripten's socket
/// emulation does: stream bytes go out in messages cut at arbitrary points
/// (frames split and merged); each message from the daemon holds one frame.
fn ws_bridge(daemon: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tungstenite::client::IntoClientRequest;
    use tungstenite::Message;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        let (mut qemu, _) = listener.accept().unwrap();
        let mut req = format!("ws://{daemon}/").into_client_request().unwrap();
        req.headers_mut().insert("Origin", "http://localhost:8080".parse().unwrap());
        req.headers_mut().insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
        let (mut ws, resp) = tungstenite::connect(req).unwrap();
        assert_eq!(resp.headers().get("Sec-WebSocket-Protocol").unwrap(), "binary");
        match ws.get_mut() {
            tungstenite::stream::MaybeTlsStream::Plain(s) => s.set_nonblocking(true).unwrap(),
            _ => unreachable!("plain ws"),
        }
        qemu.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut cut = 1usize;
        while !stop2.load(Ordering::Relaxed) {
            let mut idle = true;
            match qemu.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    idle = false;
                    let mut off = 0;
                    while off < n {
                        // Cut sizes cycle through 1..1499 bytes.
                        cut = (cut * 7 + 13) % 1499 + 1;
                        let end = (off + cut).min(n);
                        ws.write(Message::Binary(buf[off..end].to_vec().into())).unwrap();
                        off = end;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            loop {
                match ws.flush() {
                    Ok(()) => break,
                    Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_micros(100))
                    }
                    Err(_) => return,
                }
            }
            match ws.read() {
                Ok(Message::Binary(data)) => {
                    idle = false;
                    let mut off = 0;
                    while off < data.len() {
                        match qemu.write(&data[off..]) {
                            Ok(n) => off += n,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                std::thread::sleep(Duration::from_micros(100))
                            }
                            Err(_) => return,
                        }
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            if idle {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    (port, stop)
}

#[test]
fn guest_network_over_listen_ws() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = Daemon::start(&["--listen-ws", &addr]);
    daemon.wait_listening(addr.parse().unwrap());
    let http = HttpServer::start("127.0.0.1:0", HashMap::new());
    let (bridge, stop) = ws_bridge(addr);

    let tmp = TempDir::new("qemu-ws");
    let mut g = boot_guest(&format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={bridge}"), &tmp.0);
    dhcp(&mut g);
    let out = g.run_ok("ping -c1 -W5 192.168.127.1", T);
    assert!(out.contains("1 packets received"), "{out}");
    let out = g.run_ok("nslookup host.containers.internal", T);
    assert!(out.contains("192.168.127.254"), "{out}");
    let len = 8u64 << 20;
    let out = g.run_ok(&format!("wget -q -O - http://192.168.127.254:{}/pattern/{len} | sha256sum", http.addr.port()), T);
    assert!(out.contains(&pattern_sha256(len)), "download sha256 mismatch: {out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn guest_network_over_a_unix_socket() {
    let tmp = TempDir::new("qemu-unix");
    let path = tmp.0.join("net.sock");
    let _daemon = Daemon::start(&["--listen-unix", path.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&path).is_err() {
        assert!(Instant::now() < deadline, "netvm-net not listening on {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut routes = HashMap::new();
    routes.insert("/unix".to_string(), b"over a unix socket\n".to_vec());
    let http = HttpServer::start("127.0.0.1:0", routes);
    let mut g = boot_guest(&format!("stream,server=off,addr.type=unix,addr.path={}", path.display()), &tmp.0);
    dhcp(&mut g);
    let out = g.run_ok(&format!("wget -q -O - http://192.168.127.254:{}/unix", http.addr.port()), T);
    assert!(out.contains("over a unix socket"), "{out}");
}

#[test]
fn guest_network_over_netdev_socket() {
    // QEMU's older `-netdev socket,connect=` speaks the same framing.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = Daemon::start(&["--listen", &addr]);
    daemon.wait_listening(addr.parse().unwrap());
    let tmp = TempDir::new("qemu-socket");
    let mut g = boot_guest(&format!("socket,connect=127.0.0.1:{port}"), &tmp.0);
    dhcp(&mut g);
    let out = g.run_ok("ping -c1 -W5 192.168.127.1", T);
    assert!(out.contains("1 packets received"), "{out}");
}
