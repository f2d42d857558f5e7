//! `netvm-net --proxy` against Debian's QEMU booting our guest image: the
//! browser-mode network natively. The guest runs the seed's browser-mode
//! steps (tmpfs over /etc, `udhcpc`, the CA from the 9p share `wasm0`,
//! `https_proxy`/`http_proxy` at 192.168.127.253) and fetches from origins
//! the test runs on the host's loopback: plain HTTP, and HTTPS with a CA of
//! the test's own that only the daemon trusts (`--upstream-ca`). A second
//! boot runs transparent mode without any proxy variables. Each boot serves
//! many checks, since a TCG boot is the slow part.

#![cfg(feature = "proxy")]

mod common;
// The proxy crate's test origin (plain or HTTPS; /pattern/N, /sha, 404).
#[allow(dead_code)]
#[path = "../../proxy/tests/common/origin.rs"]
mod origin;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, Daemon, TempDir};
use netvm_proxy::CertificateAuthority;
use origin::Origin;
use sha2::{Digest, Sha256};
use testkit::console::Console;
use testkit::qemu::Qemu;

const T: Duration = Duration::from_secs(60);

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes `testkit::http::pattern_byte` describes (what the origin serves).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(testkit::http::pattern_byte).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The origins and the CA file the daemon is told to trust.
struct Origins {
    http: Origin,
    https: Origin,
    ca_file: std::path::PathBuf,
}

/// A plain and an HTTPS origin on 127.0.0.1; the HTTPS one presents a
/// certificate for "localhost" from a CA made here (the tests' stand-in
/// for the internet's PKI; the guest never sees it).
fn origins(dir: &Path) -> Origins {
    let ca = CertificateAuthority::generate(unix_now()).unwrap();
    let ca_file = dir.join("origin-ca.pem");
    std::fs::write(&ca_file, ca.ca_cert_pem()).unwrap();
    let tls: Arc<rustls::ServerConfig> = ca.server_config("localhost").unwrap();
    Origins { http: Origin::start(None), https: Origin::start(Some(tls)), ca_file }
}

/// The daemon with `--proxy` and `extra` flags, writing its CA to `share/proxy.crt`.
fn daemon(port: u16, share: &Path, origins: &Origins, extra: &[&str]) -> Daemon {
    let addr = format!("127.0.0.1:{port}");
    let cert = share.join("proxy.crt");
    let mut args = vec!["--listen", &addr, "--proxy", "--certfile", cert.to_str().unwrap()];
    args.extend(["--upstream-ca", origins.ca_file.to_str().unwrap()]);
    args.extend(extra);
    let mut d = Daemon::start(&args);
    d.wait_listening(addr.parse().unwrap());
    d
}

/// Boots the guest on the daemon at `port` with `share` as 9p tag `wasm0`,
/// and runs the seed's steps up to the share's mount.
fn boot(port: u16, share: &Path, tmp: &Path) -> Console {
    let image = testkit::guest::image();
    let rootfs = image.rootfs_copy(tmp);
    let netdev = format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}");
    let mut g = Qemu::microvm(&image, &rootfs).net(&netdev, Some("02:00:00:00:00:01")).share(share, "wasm0").spawn("guest");
    g.wait_for(testkit::guest::READY_LINE, Duration::from_secs(90));
    g.send_line("");
    // The seed's browser-mode steps (README): /etc on a tmpfs, so the guest
    // has no /etc/hosts entries of its own and every name goes to our DNS.
    g.run_ok("mount -t tmpfs tmpfs /etc; touch /etc/hosts /etc/resolv.conf", T);
    let out = g.run_ok("udhcpc -i eth0", T);
    assert!(out.contains("lease of 192.168.127.3 obtained"), "{out}");
    g.run_ok("mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L", T);
    let pem = std::fs::read_to_string(share.join("proxy.crt")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let out = g.run_ok("cat /mnt/proxy.crt", T);
    assert!(out.contains(pem.lines().nth(1).unwrap()), "guest sees another CA: {out}");
    g
}

/// `wget -O - URL | sha256sum` in the guest equals the pattern's digest.
fn fetch_pattern(g: &mut Console, url: &str, len: usize, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    let out = g.run_ok(&format!("wget -q -O - {url} | sha256sum"), timeout);
    let took = t0.elapsed();
    let want = sha256_hex(&pattern(len));
    assert!(out.contains(&want), "{url}: sha256 mismatch: {out} (want {want})");
    took
}

#[test]
fn seed_browser_mode_steps_through_the_proxy() {
    let tmp = TempDir::new("proxy-explicit");
    let share = tmp.0.join("share");
    std::fs::create_dir_all(&share).unwrap();
    let o = origins(&tmp.0);
    let port = free_port();
    let _d = daemon(port, &share, &o, &[]);
    let (hp, sp) = (o.http.addr.port(), o.https.addr.port());
    let mut g = boot(port, &share, &tmp.0);
    g.run_ok(
        "export SSL_CERT_FILE=/mnt/proxy.crt; export https_proxy=http://192.168.127.253:80; export http_proxy=http://192.168.127.253:80",
        T,
    );

    // HTTPS to "localhost": the proxy, on the host, reaches the host's origin.
    fetch_pattern(&mut g, &format!("https://localhost:{sp}/pattern/100000"), 100_000, T);
    // Plain HTTP.
    fetch_pattern(&mut g, &format!("http://localhost:{hp}/pattern/5000"), 5000, T);
    // POST bodies (busybox 1.35's wget writes "GET" in the request line it
    // sends to a proxy even with --post-data, so the guest sends the request
    // with nc): a short one and 1 MB of random bytes, digests compared.
    let post = |path: &str, len: usize| {
        format!("printf 'POST https://localhost:{sp}{path} HTTP/1.1\\r\\nHost: localhost:{sp}\\r\\nContent-Length: {len}\\r\\nConnection: close\\r\\n\\r\\n'")
    };
    let out = g.run_ok(&format!("{{ {}; printf 'hello through the proxy'; }} | nc 192.168.127.253 80", post("/sha", 23)), T);
    assert!(out.contains(&format!("23 {}", sha256_hex(b"hello through the proxy"))), "{out}");
    let out = g.run_ok(
        &format!("head -c 1000000 /dev/urandom > /tmp/up; sha256sum /tmp/up; {{ {}; cat /tmp/up; }} | nc 192.168.127.253 80", post("/sha", 1_000_000)),
        T,
    );
    let local = out.split_whitespace().next().unwrap_or_default().to_string();
    assert!(local.len() == 64 && out.contains(&format!("1000000 {local}")), "{out}");
    // Non-2xx answers pass through.
    let (out, status) = g.run(&format!("wget -q -O - https://localhost:{sp}/missing"), T);
    assert!(status != 0 && out.contains("404"), "{out}");
    // A refused upstream is a 502 whose body says why, at once.
    let closed = free_port();
    let t0 = Instant::now();
    let (out, status) = g.run(&format!("wget -q -O - https://localhost:{closed}/"), T);
    assert!(status != 0 && out.contains("502"), "{out}");
    assert!(t0.elapsed() < Duration::from_secs(10), "refusal took {:?}", t0.elapsed());
    let out = g.run_ok(
        &format!("printf 'GET http://localhost:{closed}/ HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' | nc 192.168.127.253 80"),
        T,
    );
    assert!(out.contains("502") && out.contains("connection refused"), "{out}");

    // 64 MiB over HTTPS upstream, streamed, sha256 checked.
    let len = 64 << 20;
    let took = fetch_pattern(&mut g, &format!("https://localhost:{sp}/pattern/{len}"), len, Duration::from_secs(600));
    println!("64 MiB through netvm-net --proxy with sha256sum in {:.1}s ({:.1} MB/s)", took.as_secs_f64(), len as f64 / 1e6 / took.as_secs_f64());
    // The same into a file (as qemu_guest.rs measures the NAT): the proxy path's throughput.
    let t0 = Instant::now();
    g.run_ok(&format!("wget -q -O /tmp/big https://localhost:{sp}/pattern/{len}"), Duration::from_secs(600));
    let took = t0.elapsed();
    let out = g.run_ok("wc -c < /tmp/big; rm /tmp/big", T);
    assert!(out.contains(&len.to_string()), "{out}");
    println!("64 MiB through netvm-net --proxy to a tmpfs file in {:.1}s ({:.1} MB/s)", took.as_secs_f64(), len as f64 / 1e6 / took.as_secs_f64());
}

#[test]
fn transparent_mode_without_proxy_variables() {
    let tmp = TempDir::new("proxy-transparent");
    let share = tmp.0.join("share");
    std::fs::create_dir_all(&share).unwrap();
    let o = origins(&tmp.0);
    let port = free_port();
    let _d = daemon(port, &share, &o, &["--transparent"]);
    let (hp, sp) = (o.http.addr.port(), o.https.addr.port());
    let mut g = boot(port, &share, &tmp.0);

    // Names resolve to the private pool.
    let out = g.run_ok("nslookup localhost", T);
    assert!(out.contains("198.18."), "{out}");
    // HTTPS from busybox's own TLS client, terminated by the proxy with a
    // leaf for the name; then HTTP told apart by its first bytes.
    fetch_pattern(&mut g, &format!("https://localhost:{sp}/pattern/300000"), 300_000, T);
    fetch_pattern(&mut g, &format!("http://localhost:{hp}/pattern/5000"), 5000, T);
    let out = g.run_ok(&format!("wget -q -O - --post-data 'transparent body' http://localhost:{hp}/sha"), T);
    assert!(out.contains(&format!("16 {}", sha256_hex(b"transparent body"))), "{out}");
    // busybox sends --post-file up to its first NUL byte: text, then.
    let out = g.run_ok(
        &format!("seq 1 150000 > /tmp/up; wc -c < /tmp/up; sha256sum /tmp/up; wget -q -O - --post-file /tmp/up https://localhost:{sp}/sha"),
        T,
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert!(words.len() >= 2 && words[1].len() == 64 && out.contains(&format!("{} {}", words[0], words[1])), "{out}");
    // Anything that is not a pool address is refused at once (RST), not left to time out.
    let t0 = Instant::now();
    let (out, status) = g.run("wget -q -O - http://10.1.2.3:81/", T);
    assert!(status != 0 && out.contains("refused"), "{out}");
    assert!(t0.elapsed() < Duration::from_secs(10), "refusal took {:?}", t0.elapsed());
    // The explicit proxy still answers on 192.168.127.253.
    let out = g.run_ok(&format!("http_proxy=http://192.168.127.253:80 wget -q -O - http://localhost:{hp}/pattern/10 | wc -c"), T);
    assert!(out.contains("10"), "{out}");
}
