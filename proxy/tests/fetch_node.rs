//! The proxy compiled to wasm with its Fetch upstream, run in Node by
//! wasm-bindgen-test-runner against a real local origin
//! (tests/fetch-origin.mjs) that scripts/test.d/52-proxy-fetch-node starts;
//! its address comes in at build time as NETVM_FETCH_TEST_ORIGIN.
#![cfg(all(target_arch = "wasm32", feature = "fetch"))]

use netvm_proxy::fetch::FetchUpstream;
use netvm_proxy::http::BodyDecoder;
use netvm_proxy::{
    CertificateAuthority, Destination, Instant, Proxy, ProxyConfig, ProxyConnection, Role,
};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

const ORIGIN: &str = match option_env!("NETVM_FETCH_TEST_ORIGIN") {
    Some(o) => o,
    None => "http://127.0.0.1:2",
};

fn now() -> Instant {
    Instant::from_millis(js_sys::Date::now() as u64)
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
                .unwrap()
                .into();
        set_timeout
            .call2(&JsValue::NULL, &resolve, &JsValue::from(ms))
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

fn proxy() -> Rc<Proxy> {
    let ca = CertificateAuthority::generate((js_sys::Date::now() / 1000.0) as i64).unwrap();
    Rc::new(Proxy::new(
        Arc::new(ca),
        Box::new(FetchUpstream::default()),
        ProxyConfig::default(),
    ))
}

fn connection(proxy: &Rc<Proxy>, role: Role) -> ProxyConnection {
    connection_to(proxy, role, 80)
}

fn connection_to(proxy: &Rc<Proxy>, role: Role, port: u16) -> ProxyConnection {
    ProxyConnection::new(
        proxy.clone(),
        Destination { port, role },
        Waker::noop().clone(),
        now(),
    )
}

fn origin_port() -> u16 {
    ORIGIN.rsplit(':').next().unwrap().parse().unwrap()
}

/// Sends `request` as the guest, then drives the connection until it
/// closes (every request here says Connection: close) or 20 s pass.
async fn run_plain(conn: &mut ProxyConnection, request: &[u8]) -> Vec<u8> {
    assert_eq!(conn.feed_guest(request, now()), request.len());
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..2000 {
        conn.poll(now());
        loop {
            let n = conn.take_guest_output(&mut buf);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        if conn.is_finished() || conn.is_aborted() {
            return out;
        }
        sleep(10).await;
    }
    panic!(
        "no complete answer in time; got {:?}",
        String::from_utf8_lossy(&out)
    );
}

/// Splits a response into head text and decoded body.
fn parse(response: &[u8]) -> (String, Vec<u8>) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let mut decoder = if head.contains("Transfer-Encoding: chunked") {
        BodyDecoder::chunked()
    } else if let Some(l) = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
    {
        BodyDecoder::length(l.trim().parse().unwrap())
    } else {
        BodyDecoder::UntilClose
    };
    let mut rest = &response[end..];
    let mut body = Vec::new();
    while !rest.is_empty() && !decoder.is_done() {
        let step = decoder.advance(rest).unwrap();
        body.extend_from_slice(&rest[step.framing..step.framing + step.data]);
        decoder.consume_data(step.data);
        rest = &rest[step.framing + step.data..];
    }
    assert!(
        decoder.is_done() || decoder.on_eof().is_ok(),
        "truncated body in {head}"
    );
    (head, body)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

#[wasm_bindgen_test]
async fn get_streams_a_large_body_through_fetch() {
    let p = proxy();
    let mut conn = connection(&p, Role::ExplicitProxy);
    let len = 3 << 20;
    let req =
        format!("GET {ORIGIN}/pattern/{len} HTTP/1.1\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    let (head, body) = parse(&run_plain(&mut conn, req.as_bytes()).await);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("x-origin: node"), "{head}");
    assert_eq!(body.len(), len);
    assert!(body == pattern(len), "body differs");
}

#[wasm_bindgen_test]
async fn post_body_and_404_pass_through() {
    let p = proxy();
    let data = pattern(200_000);
    let mut req = format!(
        "POST {ORIGIN}/sha HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    )
    .into_bytes();
    req.extend_from_slice(&data);
    let mut conn = connection(&p, Role::ExplicitProxy);
    let mut out = Vec::new();
    let mut fed = 0;
    // The body goes in as the connection takes it.
    for _ in 0..2000 {
        fed += conn.feed_guest(&req[fed..], now());
        conn.poll(now());
        let mut buf = vec![0u8; 65536];
        loop {
            let n = conn.take_guest_output(&mut buf);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        if conn.is_finished() {
            break;
        }
        sleep(10).await;
    }
    let (head, body) = parse(&out);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let expected = {
        use sha2::Digest;
        let h: String = sha2::Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{} {h}", data.len())
    };
    assert_eq!(String::from_utf8_lossy(&body), expected);

    let mut conn = connection(&p, Role::ExplicitProxy);
    let req = format!("GET {ORIGIN}/nothing HTTP/1.1\r\nConnection: close\r\n\r\n");
    let (head, body) = parse(&run_plain(&mut conn, req.as_bytes()).await);
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    assert_eq!(body, b"nothing at /nothing\n");
}

#[wasm_bindgen_test]
async fn refused_fetch_is_a_502_saying_why() {
    let p = proxy();
    let mut conn = connection(&p, Role::ExplicitProxy);
    let (head, body) = parse(
        &run_plain(
            &mut conn,
            b"GET http://127.0.0.1:2/ HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert!(head.starts_with("HTTP/1.1 502 "), "{head}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("could not make the request"), "{text}");
}

#[wasm_bindgen_test]
async fn tls_is_terminated_in_wasm_with_a_generated_certificate() {
    // Transparent TLS to a pool address: rustls, rcgen and ring in wasm.
    // The origin speaks plain HTTP, so the re-issued https:// fetch fails
    // and the guest reads a 502 over the TLS session.
    let p = proxy();
    let mut conn = connection_to(
        &p,
        Role::Transparent {
            name: Some("127.0.0.1".into()),
        },
        origin_port(),
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca().ca_cert_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // "localhost": the re-issued fetch must stay on loopback.
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let port = origin_port();
    write!(
        tls.writer(),
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut plain = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..2000 {
        let mut wire = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut wire).unwrap();
        }
        if !wire.is_empty() {
            assert_eq!(conn.feed_guest(&wire, now()), wire.len());
        }
        conn.poll(now());
        let n = conn.take_guest_output(&mut buf);
        let mut rd = &buf[..n];
        while !rd.is_empty() {
            tls.read_tls(&mut rd).unwrap();
            tls.process_new_packets()
                .expect("the guest's TLS client accepts the proxy's certificate");
        }
        let _ = tls.reader().read_to_end(&mut plain);
        if conn.is_finished() && n == 0 {
            break;
        }
        if n == 0 && wire.is_empty() {
            sleep(10).await;
        }
    }
    let text = String::from_utf8_lossy(&plain);
    assert!(text.starts_with("HTTP/1.1 502 "), "{text}");
    assert!(
        text.contains(&format!("https://localhost:{port}/")),
        "SNI and port make the URL: {text}"
    );
}
