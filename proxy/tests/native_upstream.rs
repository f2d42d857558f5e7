//! The proxy with its native upstream against real servers on loopback:
//! a guest client on one side, origin servers (plain and HTTPS with a test
//! CA) on the other.

mod common;

use common::client::Guest;
use common::origin::Origin;
use common::{init_logging, pattern, refused_port, sha256_hex, ProxyUnderTest, TestPki};
use netvm_proxy::Role;
use std::time::Instant;

struct World {
    pki: TestPki,
    http: Origin,
    https: Origin,
    proxy: ProxyUnderTest,
}

fn world() -> World {
    init_logging();
    let pki = TestPki::generate();
    let http = Origin::start(None);
    let https = Origin::start(Some(pki.server_config.clone()));
    let proxy = ProxyUnderTest::start(Role::ExplicitProxy, std::slice::from_ref(&pki.ca_pem_file));
    World {
        pki,
        http,
        https,
        proxy,
    }
}

#[test]
fn plain_http_get_with_keep_alive() {
    let w = world();
    let mut g = Guest::connect(w.proxy.addr);
    let port = w.http.addr.port();
    let r = g.request(&format!("GET http://127.0.0.1:{port}/pattern/1000 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Connection: keep-alive\r\n\r\n"), b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(1000));
    let r = g.request(
        &format!("GET http://localhost:{port}/chunked/300000 HTTP/1.1\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.head.contains("Transfer-Encoding: chunked"), "{}", r.head);
    assert_eq!(r.body, pattern(300000));
    // HEAD: no body, the origin's Content-Length passes through.
    let r = g.request(
        &format!("HEAD http://localhost:{port}/pattern/777 HTTP/1.1\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.head.contains("Content-Length: 777\r\n"), "{}", r.head);
    assert!(r.body.is_empty());
    let r = g.request(
        &format!("GET http://localhost:{port}/close/5000 HTTP/1.1\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(r.body, pattern(5000));
    assert!(g.is_closed());
    let heads = w.http.heads.lock().unwrap().clone();
    assert!(
        heads[0].starts_with("GET /pattern/1000 HTTP/1.1\r\nHost: 127.0.0.1:"),
        "{}",
        heads[0]
    );
    assert!(
        !heads[0].to_ascii_lowercase().contains("proxy-connection"),
        "{}",
        heads[0]
    );
}

#[test]
fn busybox_wget_style_https_request_over_plain_http() {
    let w = world();
    let mut g = Guest::connect(w.proxy.addr);
    let port = w.https.addr.port();
    let r = g.request(
        &format!("GET https://localhost:{port}/pattern/70000 HTTP/1.1\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, pattern(70000));
}

#[test]
fn connect_tls_64_mib_download_matches_sha256() {
    let w = world();
    let port = w.https.addr.port();
    let mut g = Guest::connect_tls(
        w.proxy.addr,
        &format!("localhost:{port}"),
        "localhost",
        &w.proxy.ca,
    );
    let len = 64 << 20;
    let start = Instant::now();
    let r = g.request(
        &format!("GET /pattern/{len} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
        b"",
    );
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), len);
    assert_eq!(sha256_hex(&r.body), sha256_hex(&pattern(len)));
    eprintln!(
        "64 MiB through CONNECT+TLS in {secs:.2} s ({:.1} MiB/s)",
        64.0 / secs
    );
    // The tunnel is keep-alive: a second request on it.
    let r = g.request(
        &format!("GET /missing HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "nothing at /missing\n",
        "non-2xx bodies pass through"
    );
}

#[test]
fn post_bodies_with_length_and_chunked() {
    let w = world();
    let port = w.https.addr.port();
    let mut g = Guest::connect_tls(
        w.proxy.addr,
        &format!("127.0.0.1:{port}"),
        "127.0.0.1",
        &w.proxy.ca,
    );
    let body = pattern(3 << 20);
    let r = g.request(
        &format!("POST /sha HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n", body.len()),
        &body,
    );
    assert_eq!(r.text(), format!("{} {}", body.len(), sha256_hex(&body)));
    // Chunked upload from the guest.
    let mut chunked = Vec::new();
    for piece in body.chunks(70001) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = g.request(
        &format!(
            "PUT /sha HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        &chunked,
    );
    assert_eq!(r.text(), format!("{} {}", body.len(), sha256_hex(&body)));
    let heads = w.https.heads.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .any(|h| h.starts_with("PUT /sha") && h.contains("Transfer-Encoding: chunked")),
        "{heads:?}"
    );
    assert!(
        !heads
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("expect:")),
        "{heads:?}"
    );
}

#[test]
fn refused_port_gives_502_saying_so() {
    let w = world();
    let port = refused_port();
    let mut g = Guest::connect(w.proxy.addr);
    let r = g.request(
        &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 502);
    assert!(r.text().contains("connection refused"), "{}", r.text());
    assert!(g.is_closed());
    // The same through a CONNECT tunnel.
    let mut g = Guest::connect_tls(
        w.proxy.addr,
        &format!("localhost:{port}"),
        "localhost",
        &w.proxy.ca,
    );
    let r = g.request(
        &format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
        b"",
    );
    assert_eq!(r.status, 502);
    assert!(r.text().contains("connection refused"), "{}", r.text());
}

#[test]
fn untrusted_upstream_certificate_gives_502_tls_error() {
    let w = world();
    // A proxy that does not trust the origin's test CA.
    let other = TestPki::generate();
    let proxy = ProxyUnderTest::start(
        Role::ExplicitProxy,
        std::slice::from_ref(&other.ca_pem_file),
    );
    let mut g = Guest::connect(proxy.addr);
    let r = g.request(
        &format!(
            "GET https://localhost:{}/pattern/10 HTTP/1.1\r\n\r\n",
            w.https.addr.port()
        ),
        b"",
    );
    assert_eq!(r.status, 502);
    assert!(r.text().contains("TLS error"), "{}", r.text());
    drop(w.pki);
}

#[test]
fn transparent_mode_serves_tls_and_http_on_the_destination_port() {
    init_logging();
    let pki = TestPki::generate();
    let https = Origin::start(Some(pki.server_config.clone()));
    let http = Origin::start(None);
    let role = Role::Transparent {
        name: Some("localhost".into()),
    };
    let cfg = netvm_proxy::ProxyConfig::default();
    // TLS with SNI, as `wget https://localhost:PORT/` with no proxy variables.
    let proxy = ProxyUnderTest::start_with(
        role.clone(),
        std::slice::from_ref(&pki.ca_pem_file),
        cfg,
        Some(https.addr.port()),
    );
    let mut g = Guest::connect_tls_direct(proxy.addr, "localhost", &proxy.ca);
    let r = g.request("GET /pattern/1234 HTTP/1.1\r\nHost: localhost\r\n\r\n", b"");
    assert_eq!(r.body, pattern(1234));
    // Plain HTTP, name from Host.
    let proxy = ProxyUnderTest::start_with(
        role,
        std::slice::from_ref(&pki.ca_pem_file),
        cfg,
        Some(http.addr.port()),
    );
    let mut g = Guest::connect(proxy.addr);
    let r = g.request("GET /pattern/99 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"");
    assert_eq!(r.body, pattern(99));
}

#[test]
fn malformed_request_gets_400_and_proxy_survives() {
    let w = world();
    let mut g = Guest::connect(w.proxy.addr);
    g.send(b"GET http://exa mple/ HTTP/1.1\r\n\r\n");
    let r = g.read_response(false);
    assert_eq!(r.status, 400);
    assert!(g.is_closed());
    let mut g = Guest::connect(w.proxy.addr);
    let r = g.request(
        &format!(
            "GET http://127.0.0.1:{}/pattern/5 HTTP/1.1\r\n\r\n",
            w.http.addr.port()
        ),
        b"",
    );
    assert_eq!(r.status, 200);
}
