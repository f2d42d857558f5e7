//! A whole proxy connection fed arbitrary guest bytes in arbitrary
//! pieces (HTTP, TLS, CONNECT, chunked bodies...), with an upstream that
//! refuses every request: the state machine must never panic or spin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm_proxy::upstream::{
    ErrorKind, Exchange, Upstream, UpstreamError, UpstreamEvent, UpstreamRequest,
};
use netvm_proxy::{
    CertificateAuthority, Destination, Instant, Proxy, ProxyConfig, ProxyConnection, Role,
};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

/// Answers every request with a refusal, as an upstream with no network does.
struct Refusing;

struct Refused(Option<UpstreamError>);

impl Upstream for Refusing {
    fn start(&self, request: UpstreamRequest, _waker: Waker) -> Box<dyn Exchange> {
        Box::new(Refused(Some(UpstreamError::new(
            ErrorKind::Refused,
            request.url.to_string(),
        ))))
    }
}

impl Exchange for Refused {
    fn write_body(&mut self, data: &[u8]) -> usize {
        data.len()
    }
    fn finish_body(&mut self) {}
    fn poll_event(&mut self) -> Option<UpstreamEvent> {
        self.0.take().map(UpstreamEvent::Error)
    }
}

thread_local! {
    static PROXY: Rc<Proxy> = Rc::new(Proxy::new(
        Arc::new(CertificateAuthority::generate(1_700_000_000).expect("CA")),
        Box::new(Refusing),
        ProxyConfig::default(),
    ));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let role = if mode & 1 == 0 {
        Role::ExplicitProxy
    } else {
        Role::Transparent {
            name: Some("fuzz.example".into()),
        }
    };
    let proxy = PROXY.with(|p| p.clone());
    let mut conn = ProxyConnection::new(
        proxy,
        Destination { port: 443, role },
        Waker::noop().clone(),
        Instant::ZERO,
    );
    let mut out = [0u8; 4096];
    let mut now = 0u64;
    // Split the input at 0xff bytes into separate TCP segments.
    for piece in data.split(|&b| b == 0xff) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = conn.feed_guest(rest, Instant::from_millis(now));
            rest = &rest[n..];
            conn.poll(Instant::from_millis(now));
            let taken = conn.take_guest_output(&mut out);
            if n == 0 && taken == 0 {
                break;
            }
        }
        now += 1000;
        conn.poll(Instant::from_millis(now));
        while conn.take_guest_output(&mut out) > 0 {}
    }
    if mode & 2 != 0 {
        conn.on_guest_close(Instant::from_millis(now));
    }
    conn.poll(Instant::from_millis(now + 3_600_000));
    while conn.take_guest_output(&mut out) > 0 {}
});
