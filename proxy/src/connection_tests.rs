//! State-machine tests: a guest driver speaks HTTP (and TLS, with a real
//! rustls client trusting the generated CA) to a `ProxyConnection`, and a
//! scripted upstream lets each test decide what the origin answers and
//! when, with a manual clock for the timeouts.

use super::*;
use crate::ca::CertificateAuthority;
use crate::proxy::{ProxyConfig, Timeouts};
use crate::upstream::{ErrorKind, ResponseHead, Upstream, UpstreamError};
use crate::Instant;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What one scripted exchange saw and still has to deliver.
#[derive(Default)]
struct ExchangeState {
    request: Option<UpstreamRequest>,
    body: Vec<u8>,
    body_finished: bool,
    /// How many more body bytes it accepts (backpressure knob).
    body_room: usize,
    events: VecDeque<UpstreamEvent>,
    polled: usize,
    dropped: bool,
}

type Shared = Rc<RefCell<ExchangeState>>;

#[derive(Default, Clone)]
struct Scripted {
    exchanges: Rc<RefCell<Vec<Shared>>>,
}

impl Upstream for Scripted {
    fn start(&self, request: UpstreamRequest, _waker: Waker) -> Box<dyn Exchange> {
        let state = Rc::new(RefCell::new(ExchangeState {
            request: Some(request),
            body_room: usize::MAX,
            ..Default::default()
        }));
        self.exchanges.borrow_mut().push(state.clone());
        Box::new(ScriptedExchange(state))
    }
}

struct ScriptedExchange(Shared);

impl Exchange for ScriptedExchange {
    fn write_body(&mut self, data: &[u8]) -> usize {
        let mut s = self.0.borrow_mut();
        let n = data.len().min(s.body_room);
        s.body_room -= n;
        s.body.extend_from_slice(&data[..n]);
        n
    }
    fn finish_body(&mut self) {
        self.0.borrow_mut().body_finished = true;
    }
    fn poll_event(&mut self) -> Option<UpstreamEvent> {
        let mut s = self.0.borrow_mut();
        let ev = s.events.pop_front();
        s.polled += ev.is_some() as usize;
        ev
    }
}

impl Drop for ScriptedExchange {
    fn drop(&mut self) {
        self.0.borrow_mut().dropped = true;
    }
}

/// The guest's TLS client checks validity against the real clock.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Harness {
    conn: ProxyConnection,
    upstream: Scripted,
    ca: Arc<CertificateAuthority>,
    now: u64,
}

fn ok_head(len: Option<u64>) -> UpstreamEvent {
    UpstreamEvent::Head(ResponseHead {
        status: 200,
        reason: "OK".into(),
        headers: vec![
            crate::http::Header::new("X-Origin", "yes"),
            crate::http::Header::new("Keep-Alive", "timeout=5"),
        ],
        body: len
            .map(ResponseBody::Length)
            .unwrap_or(ResponseBody::Unknown),
    })
}

impl Harness {
    fn new(role: Role, port: u16) -> Harness {
        Harness::with_config(role, port, ProxyConfig::default())
    }

    fn with_config(role: Role, port: u16, config: ProxyConfig) -> Harness {
        let ca = Arc::new(CertificateAuthority::generate(unix_now()).unwrap());
        let upstream = Scripted::default();
        let proxy = Rc::new(Proxy::new(ca.clone(), Box::new(upstream.clone()), config));
        let conn = ProxyConnection::new(
            proxy,
            Destination { port, role },
            Waker::noop().clone(),
            Instant::ZERO,
        );
        Harness {
            conn,
            upstream,
            ca,
            now: 0,
        }
    }

    fn exchange(&self, i: usize) -> Shared {
        self.upstream.exchanges.borrow()[i].clone()
    }

    fn url(&self, i: usize) -> String {
        self.exchange(i)
            .borrow()
            .request
            .as_ref()
            .unwrap()
            .url
            .to_string()
    }

    fn deliver(&mut self, i: usize, events: Vec<UpstreamEvent>) {
        self.exchange(i).borrow_mut().events.extend(events);
        self.poll();
    }

    fn send(&mut self, bytes: &[u8]) -> usize {
        self.conn.feed_guest(bytes, Instant::from_millis(self.now))
    }

    fn poll(&mut self) {
        self.conn.poll(Instant::from_millis(self.now));
    }

    fn advance(&mut self, d: Duration) {
        self.now += d.as_millis() as u64;
        self.poll();
    }

    fn output(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self.conn.take_guest_output(&mut buf);
            if n == 0 {
                return all;
            }
            all.extend_from_slice(&buf[..n]);
        }
    }

    fn output_text(&mut self) -> String {
        String::from_utf8_lossy(&self.output()).into_owned()
    }
}

/// A rustls client talking through the harness, as a guest behind CONNECT would.
struct TlsGuest {
    tls: rustls::ClientConnection,
}

impl TlsGuest {
    fn new(ca: &CertificateAuthority, name: &str) -> TlsGuest {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_cert_der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        TlsGuest {
            tls: rustls::ClientConnection::new(Arc::new(cfg), name).unwrap(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn pump(&mut self, h: &mut Harness) {
        for _ in 0..100 {
            let mut out = Vec::new();
            while self.tls.wants_write() {
                self.tls.write_tls(&mut out).unwrap();
            }
            if !out.is_empty() {
                assert_eq!(h.send(&out), out.len(), "proxy refused TLS bytes");
            }
            h.poll();
            let back = h.output();
            if back.is_empty() && out.is_empty() {
                return;
            }
            let mut rd = &back[..];
            while !rd.is_empty() {
                self.tls.read_tls(&mut rd).unwrap();
                self.tls
                    .process_new_packets()
                    .expect("guest TLS client rejected the proxy");
            }
        }
    }

    fn write(&mut self, h: &mut Harness, data: &[u8]) {
        self.tls.writer().write_all(data).unwrap();
        self.pump(h);
    }

    fn read_all(&mut self, h: &mut Harness) -> String {
        self.pump(h);
        let mut text = Vec::new();
        let _ = self.tls.reader().read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    }
}

#[test]
fn absolute_form_get_is_forwarded_with_hop_by_hop_fields_removed() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    let req = b"GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\nConnection: x-drop\r\nX-Drop: 1\r\nAccept: */*\r\n\r\n";
    assert_eq!(h.send(req), req.len());
    let ex = h.exchange(0);
    {
        let s = ex.borrow();
        let r = s.request.as_ref().unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.url.to_string(), "http://example.com/a?b=1");
        let names: Vec<&str> = r.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Accept"]);
        assert!(s.body_finished, "a GET has an empty body, finished at once");
    }
    h.deliver(
        0,
        vec![
            ok_head(Some(5)),
            UpstreamEvent::Body(b"hello".to_vec()),
            UpstreamEvent::End,
        ],
    );
    let out = h.output_text();
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nX-Origin: yes\r\nContent-Length: 5\r\n\r\nhello"
    );
    // Keep-alive: a second request on the same connection.
    h.send(b"HEAD http://example.com/second HTTP/1.1\r\n\r\n");
    assert_eq!(h.url(1), "http://example.com/second");
    assert!(!h.conn.is_finished());
}

#[test]
fn busybox_style_https_url_in_plain_http_goes_out_as_https() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET https://example.com/file HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n");
    assert_eq!(h.url(0), "https://example.com/file");
    h.deliver(
        0,
        vec![
            ok_head(None),
            UpstreamEvent::Body(b"abc".to_vec()),
            UpstreamEvent::Body(b"de".to_vec()),
            UpstreamEvent::End,
        ],
    );
    let out = h.output_text();
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nX-Origin: yes\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    );
    assert!(
        h.conn.is_finished(),
        "Connection: close ends the connection"
    );
}

#[test]
fn http10_client_gets_close_delimited_body() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/ HTTP/1.0\r\n\r\n");
    h.deliver(
        0,
        vec![
            ok_head(None),
            UpstreamEvent::Body(b"xyz".to_vec()),
            UpstreamEvent::End,
        ],
    );
    assert_eq!(
        h.output_text(),
        "HTTP/1.1 200 OK\r\nX-Origin: yes\r\nConnection: close\r\n\r\nxyz"
    );
    assert!(h.conn.is_finished());
}

#[test]
fn non_2xx_answers_pass_through_with_their_bodies() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/missing HTTP/1.1\r\n\r\n");
    let head = ResponseHead {
        status: 404,
        reason: "Not Found".into(),
        headers: vec![],
        body: ResponseBody::Length(9),
    };
    h.deliver(
        0,
        vec![
            UpstreamEvent::Head(head),
            UpstreamEvent::Body(b"not here\n".to_vec()),
            UpstreamEvent::End,
        ],
    );
    assert_eq!(
        h.output_text(),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n"
    );
}

#[test]
fn upstream_failures_become_502_with_the_reason() {
    for (kind, words) in [
        (ErrorKind::Dns, "DNS lookup failed"),
        (ErrorKind::Refused, "connection refused"),
        (ErrorKind::Tls, "TLS error"),
        (ErrorKind::Cors, "CORS"),
    ] {
        let mut h = Harness::new(Role::ExplicitProxy, 80);
        h.send(b"GET http://example.com/ HTTP/1.1\r\n\r\n");
        h.deliver(
            0,
            vec![UpstreamEvent::Error(UpstreamError::new(
                kind,
                "details here",
            ))],
        );
        let out = h.output_text();
        assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
        assert!(
            out.contains(words)
                && out.contains("details here")
                && out.contains("http://example.com/"),
            "{out}"
        );
        assert!(h.conn.is_finished());
    }
}

#[test]
fn error_after_the_head_resets_the_connection() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/ HTTP/1.1\r\n\r\n");
    h.deliver(
        0,
        vec![ok_head(Some(10)), UpstreamEvent::Body(b"12345".to_vec())],
    );
    assert!(h.output_text().ends_with("12345"));
    h.deliver(
        0,
        vec![UpstreamEvent::Error(UpstreamError::new(
            ErrorKind::Io,
            "reset",
        ))],
    );
    assert!(h.conn.is_aborted());
    // A body shorter than its Content-Length is cut the same way.
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/ HTTP/1.1\r\n\r\n");
    h.deliver(
        0,
        vec![
            ok_head(Some(10)),
            UpstreamEvent::Body(b"12345".to_vec()),
            UpstreamEvent::End,
        ],
    );
    assert!(h.conn.is_aborted());
}

#[test]
fn malformed_requests_get_400_and_close() {
    for bad in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"GET http://bad host/ HTTP/1.1\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"BAD\x00REQUEST\r\n\r\n",
    ] {
        let mut h = Harness::new(Role::ExplicitProxy, 80);
        h.send(bad);
        let out = h.output_text();
        assert!(
            out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{bad:?}: {out}"
        );
        assert!(h.conn.is_finished(), "{bad:?}");
    }
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(
        format!(
            "GET http://a/ HTTP/1.1\r\nX: {}\r\n\r\n",
            "y".repeat(40_000)
        )
        .as_bytes(),
    );
    assert!(h.output_text().starts_with("HTTP/1.1 431 "));
}

#[test]
fn not_http_and_not_tls_is_reset() {
    let mut h = Harness::new(Role::Transparent { name: None }, 22);
    h.send(b"\x00SSH-2.0\r\n");
    assert!(h.conn.is_aborted());
}

#[test]
fn request_body_streams_with_backpressure() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"POST http://example.com/up HTTP/1.1\r\nContent-Length: 200000\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(h.output_text(), "HTTP/1.1 100 Continue\r\n\r\n");
    let ex = h.exchange(0);
    assert_eq!(
        ex.borrow().request.as_ref().unwrap().body,
        RequestBody::Length(200000)
    );
    ex.borrow_mut().body_room = 1000;
    // The upstream takes 1000 bytes; the queues fill; then the guest is refused.
    let body = vec![7u8; 200000];
    let mut sent = 0;
    while sent < body.len() {
        let n = h.send(&body[sent..]);
        if n == 0 {
            break;
        }
        sent += n;
    }
    assert!(sent < body.len(), "a stalled upstream must stall the guest");
    assert!(sent <= 1000 + 2 * 64 * 1024, "buffered {sent} bytes");
    assert_eq!(ex.borrow().body.len(), 1000);
    ex.borrow_mut().body_room = usize::MAX;
    h.poll();
    while sent < body.len() {
        let n = h.send(&body[sent..]);
        assert!(n > 0);
        sent += n;
    }
    assert_eq!(ex.borrow().body, body);
    assert!(ex.borrow().body_finished);
}

#[test]
fn chunked_request_body_is_decoded_for_the_upstream() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(
        b"PUT http://example.com/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    let ex = h.exchange(0);
    assert_eq!(
        ex.borrow().request.as_ref().unwrap().body,
        RequestBody::Streamed
    );
    assert!(!ex.borrow().body_finished);
    h.send(
        b"6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\nGET http://example.com/next HTTP/1.1\r\n\r\n",
    );
    assert_eq!(ex.borrow().body, b"hello world");
    assert!(ex.borrow().body_finished);
    h.deliver(0, vec![ok_head(Some(0)), UpstreamEvent::End]);
    // The pipelined request starts once the first is answered.
    assert_eq!(h.url(1), "http://example.com/next");
}

#[test]
fn response_backpressure_stops_polling_the_upstream() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/big HTTP/1.1\r\n\r\n");
    let chunk = vec![1u8; 16 * 1024];
    let mut events = vec![ok_head(Some(64 * chunk.len() as u64))];
    events.extend((0..64).map(|_| UpstreamEvent::Body(chunk.clone())));
    events.push(UpstreamEvent::End);
    h.deliver(0, events);
    let polled = h.exchange(0).borrow().polled;
    assert!(
        polled < 20,
        "proxy pulled {polled} events with nobody reading"
    );
    let mut total = 0;
    let mut buf = vec![0u8; 8192];
    for _ in 0..10_000 {
        h.poll();
        let n = h.conn.take_guest_output(&mut buf);
        total += n;
        if n == 0 && h.exchange(0).borrow().events.is_empty() {
            break;
        }
    }
    total += h.output().len();
    assert!(total > 64 * chunk.len(), "whole body delivered ({total})");
}

#[test]
fn guest_closing_mid_upload_cancels_the_exchange() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"POST http://example.com/ HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    h.conn.on_guest_close(Instant::from_millis(1));
    assert!(h.exchange(0).borrow().dropped);
    assert!(h.conn.is_finished() || h.conn.is_aborted());
}

#[test]
fn guest_half_close_still_gets_its_response() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://example.com/ HTTP/1.1\r\n\r\n");
    h.conn.on_guest_close(Instant::from_millis(1));
    assert!(!h.conn.is_finished());
    h.deliver(
        0,
        vec![
            ok_head(Some(2)),
            UpstreamEvent::Body(b"ok".to_vec()),
            UpstreamEvent::End,
        ],
    );
    assert!(h.output_text().ends_with("\r\n\r\nok"));
    assert!(h.conn.is_finished());
}

#[test]
fn timeouts_never_leave_a_connection_hanging() {
    let t = Timeouts::default();
    // No response head in time → 504.
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://slow.example/ HTTP/1.1\r\n\r\n");
    assert_eq!(
        h.conn.poll_at(),
        Some(Instant::ZERO.saturating_add(t.response_head))
    );
    h.advance(t.response_head - Duration::from_millis(1));
    assert!(h.output().is_empty());
    h.advance(Duration::from_millis(1));
    let out = h.output_text();
    assert!(out.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"), "{out}");
    assert!(h.exchange(0).borrow().dropped);
    // Half a request head → 408.
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://a/ HTTP/1.1\r\nHo");
    h.advance(t.request_head);
    assert!(h.output_text().starts_with("HTTP/1.1 408 "));
    // Idle keep-alive connection → closed quietly.
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"x");
    let mut h2 = Harness::new(Role::ExplicitProxy, 80);
    h2.advance(t.request_head);
    assert!(h2.conn.is_aborted(), "nothing sent at all");
    h.advance(t.request_head);
    assert!(h.output_text().starts_with("HTTP/1.1 408 "));
    // Stalled response body → reset.
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"GET http://a/ HTTP/1.1\r\n\r\n");
    h.deliver(0, vec![ok_head(Some(10))]);
    h.advance(t.body_idle);
    assert!(h.conn.is_aborted());
}

#[test]
fn connect_then_tls_is_terminated_with_a_certificate_for_the_host() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"CONNECT secure.example:443 HTTP/1.1\r\nHost: secure.example:443\r\n\r\n");
    assert_eq!(
        h.output_text(),
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    let mut guest = TlsGuest::new(&h.ca.clone(), "secure.example");
    guest.write(
        &mut h,
        b"GET /path?q HTTP/1.1\r\nHost: secure.example\r\n\r\n",
    );
    assert_eq!(h.url(0), "https://secure.example/path?q");
    h.exchange(0).borrow_mut().events.extend([
        ok_head(Some(6)),
        UpstreamEvent::Body(b"secret".to_vec()),
        UpstreamEvent::End,
    ]);
    let text = guest.read_all(&mut h);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\nsecret"),
        "{text}"
    );
    // Keep-alive inside the tunnel.
    guest.write(
        &mut h,
        b"GET /two HTTP/1.1\r\nHost: secure.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(h.url(1), "https://secure.example/two");
    h.exchange(1)
        .borrow_mut()
        .events
        .extend([ok_head(Some(0)), UpstreamEvent::End]);
    let text = guest.read_all(&mut h);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        h.conn.is_finished(),
        "closed after Connection: close, with close_notify"
    );
}

#[test]
fn connect_to_other_port_keeps_it_in_the_url_and_ip_hosts_get_ip_certificates() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"CONNECT 10.1.2.3:8443 HTTP/1.1\r\n\r\n");
    h.output();
    // rustls sends no SNI for IP addresses: the CONNECT host names the certificate.
    let mut guest = TlsGuest::new(&h.ca.clone(), "10.1.2.3");
    guest.write(&mut h, b"GET / HTTP/1.1\r\nHost: 10.1.2.3:8443\r\n\r\n");
    assert_eq!(h.url(0), "https://10.1.2.3:8443/");
}

#[test]
fn connect_tunnel_carrying_plain_http() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(
        b"CONNECT plain.example:80 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nHost: plain.example\r\n\r\n",
    );
    assert_eq!(
        h.output_text(),
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    assert_eq!(h.url(0), "http://plain.example/x");
}

#[test]
fn transparent_mode_tells_tls_from_http() {
    // TLS: the name comes from SNI, the port from the destination.
    let mut h = Harness::new(
        Role::Transparent {
            name: Some("pool.example".into()),
        },
        8443,
    );
    let mut guest = TlsGuest::new(&h.ca.clone(), "sni.example");
    guest.write(&mut h, b"GET /t HTTP/1.1\r\nHost: sni.example:8443\r\n\r\n");
    assert_eq!(h.url(0), "https://sni.example:8443/t");
    // Plain HTTP: the name comes from Host.
    let mut h = Harness::new(
        Role::Transparent {
            name: Some("pool.example".into()),
        },
        80,
    );
    h.send(b"GET /p HTTP/1.1\r\nHost: host.example\r\n\r\n");
    assert_eq!(h.url(0), "http://host.example/p");
    // No Host: the DNS pool name.
    let mut h = Harness::new(
        Role::Transparent {
            name: Some("pool.example".into()),
        },
        8080,
    );
    h.send(b"GET /p HTTP/1.0\r\n\r\n");
    assert_eq!(h.url(0), "http://pool.example:8080/p");
}

#[test]
fn tls_garbage_is_survived() {
    let mut h = Harness::new(
        Role::Transparent {
            name: Some("x.example".into()),
        },
        443,
    );
    h.send(b"\x16\x03\x01\x00\x05hello-not-a-client-hello");
    h.poll();
    let _alert = h.output();
    assert!(h.conn.is_finished() || h.conn.is_aborted());
}

#[test]
fn connect_inside_a_tunnel_is_refused() {
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"CONNECT a.example:80 HTTP/1.1\r\n\r\nCONNECT b.example:80 HTTP/1.1\r\n\r\n");
    let out = h.output_text();
    assert!(out.contains("HTTP/1.1 400 Bad Request"), "{out}");
}

#[test]
fn guest_closing_before_a_byte_is_closed_at_once() {
    let mut h = Harness::new(Role::Transparent { name: None }, 80);
    h.conn.on_guest_close(Instant::ZERO);
    assert!(h.conn.is_finished());
    let mut h = Harness::new(Role::ExplicitProxy, 80);
    h.send(b"CONNECT a.example:443 HTTP/1.1\r\n\r\n");
    h.conn.on_guest_close(Instant::ZERO);
    h.output();
    assert!(h.conn.is_finished());
}
