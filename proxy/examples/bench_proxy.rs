//! Benchmark for scripts/bench-proxy: what the proxy adds to an HTTPS
//! request, against a direct request to the same local HTTPS server.
//!
//! Each request uses a new connection, as busybox wget does: direct is
//! TCP + TLS to the origin; proxied is TCP to the proxy + CONNECT + TLS
//! terminated by the proxy (leaf cached) + the proxy's own TCP + TLS to
//! the origin. Medians over BENCH_REQUESTS (default 50) requests, then body
//! throughput of BENCH_MIB (default 64) MiB both ways.
//! Last line: `https-overhead-ms <median proxied - median direct>`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::client::Guest;
use common::origin::Origin;
use common::{ProxyUnderTest, TestPki};
use netvm_proxy::Role;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn main() {
    let requests = env_usize("BENCH_REQUESTS", 50).max(1);
    let mib = env_usize("BENCH_MIB", 64);
    let pki = TestPki::generate();
    let origin = Origin::start(Some(pki.server_config.clone()));
    let proxy = ProxyUnderTest::start(Role::ExplicitProxy, std::slice::from_ref(&pki.ca_pem_file));
    let port = origin.addr.port();

    let direct = |path: &str| {
        let mut g = Guest::connect_tls_trusting(origin.addr, "localhost", &pki.ca_der);
        let r = g.request(
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            b"",
        );
        assert_eq!(r.status, 200);
        r.body.len()
    };
    let via_connect = |path: &str| {
        let mut g = Guest::connect_tls(
            proxy.addr,
            &format!("localhost:{port}"),
            "localhost",
            &proxy.ca,
        );
        let r = g.request(
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.body.len()
    };
    let via_plain_https_url = || {
        let mut g = Guest::connect(proxy.addr);
        let r = g.request(
            &format!(
                "GET https://localhost:{port}/pattern/1024 HTTP/1.1\r\nConnection: close\r\n\r\n"
            ),
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };

    // Warm up: first leaf issuance, thread start-up, page cache.
    for _ in 0..3 {
        direct("/pattern/1024");
        via_connect("/pattern/1024");
        via_plain_https_url();
    }
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    let mut d = Vec::new();
    let mut c = Vec::new();
    let mut p = Vec::new();
    for _ in 0..requests {
        // Interleaved so that machine noise hits all three alike.
        d.push(time(&|| {
            direct("/pattern/1024");
        }));
        c.push(time(&|| {
            via_connect("/pattern/1024");
        }));
        p.push(time(&via_plain_https_url));
    }
    let (d, c, p) = (median_ms(d), median_ms(c), median_ms(p));
    println!("requests per mode: {requests} (new connection each, 1 KiB body)");
    println!("direct-https-ms {d:.3}");
    println!("proxied-connect-https-ms {c:.3}");
    println!("proxied-get-https-url-ms {p:.3}");

    if mib > 0 {
        let path = format!("/pattern/{}", mib << 20);
        let t = Instant::now();
        assert_eq!(direct(&path), mib << 20);
        let direct_mibs = mib as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        assert_eq!(via_connect(&path), mib << 20);
        let proxied_mibs = mib as f64 / t.elapsed().as_secs_f64();
        println!("direct-throughput-mib-s {direct_mibs:.1}");
        println!("proxied-throughput-mib-s {proxied_mibs:.1}");
    }
    println!("https-overhead-ms {:.3}", c - d);
}
