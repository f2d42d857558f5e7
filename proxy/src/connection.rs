//! One guest TCP connection served by the proxy: a sans-IO state machine.
//!
//! The embedder (the virtual network's TCP socket) moves bytes in with
//! [`ProxyConnection::feed_guest`] and out with
//! [`ProxyConnection::take_guest_output`], calls [`ProxyConnection::poll`]
//! when woken or when [`ProxyConnection::poll_at`] is due, and closes or
//! resets the socket when [`ProxyConnection::is_finished`] or
//! [`ProxyConnection::is_aborted`] says so.
//!
//! Inside, bytes flow through four bounded queues:
//! guest → `raw_in` → (TLS) → `plain_in` → HTTP → upstream exchange, and
//! upstream events → HTTP → `plain_out` → (TLS) → `raw_out` → guest.
//! Each stage only moves what the next queue has room for.

use crate::buffer::ByteQueue;
use crate::clock::Instant;
use crate::http::response::{self, Framing};
use crate::http::{
    chunked, headers, request, Authority, BodyDecoder, RequestHead, Scheme, Target, Url, Version,
};
use crate::proxy::Proxy;
use crate::transport::{self, Sniffed, Transport};
use crate::upstream::{Exchange, RequestBody, ResponseBody, UpstreamEvent, UpstreamRequest};
use std::rc::Rc;
use std::task::Waker;

/// What the guest connected to, as the virtual network knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The guest's destination port.
    pub port: u16,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The proxy's own address (192.168.127.253): requests name their
    /// target (absolute-form, CONNECT), or TLS names it by SNI.
    ExplicitProxy,
    /// An address from the DNS pool: `name` is the host the guest looked
    /// up, used when neither SNI nor Host names one.
    Transparent { name: Option<String> },
}

/// Where origin-form requests (`GET /path`) on this connection go.
#[derive(Debug, Clone)]
enum Origin {
    /// Plain explicit-proxy connection: only absolute-form targets.
    None,
    /// Inside a CONNECT tunnel to this authority.
    Tunnel(Authority),
    /// Transparent connection, or TLS straight to the proxy's address.
    Direct { name: Option<String> },
}

/// The bytes layer: undecided until the first byte of a connection or of
/// a CONNECT tunnel arrives.
enum Layer {
    Sniffing,
    Ready(Transport),
}

enum Http {
    /// Waiting for a request head; `started` is when its first byte came.
    AwaitingHead {
        started: Option<Instant>,
    },
    Forwarding(Box<Forward>),
    /// No more requests on this connection.
    Finished,
}

/// One request being forwarded.
struct Forward {
    exchange: Box<dyn Exchange>,
    url: String,
    request_body: BodyDecoder,
    body_sent: bool,
    response: ResponseState,
    keep_alive: bool,
    version: Version,
    head_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseState {
    AwaitingHead,
    Body {
        framing: Framing,
        remaining: Option<u64>,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Send what is queued, then close.
    AfterFlush,
    /// TLS close_notify queued; the socket closes once `raw_out` drains.
    Closed,
    /// Reset the connection now, dropping queued output.
    Abort,
}

/// Pump iterations per call; each moves at least a byte or an event, the
/// bound only guards against a logic error spinning forever.
const MAX_PUMP_ROUNDS: usize = 256;

pub struct ProxyConnection {
    proxy: Rc<Proxy>,
    dest: Destination,
    waker: Waker,
    now: Instant,
    last_progress: Instant,
    raw_in: ByteQueue,
    plain_in: ByteQueue,
    plain_out: ByteQueue,
    raw_out: ByteQueue,
    layer: Layer,
    origin: Origin,
    http: Http,
    guest_eof: bool,
    closing: Closing,
}

impl ProxyConnection {
    /// A new connection from the guest to `dest`. `waker` is woken when the
    /// upstream has something for this connection (call `poll` then).
    pub fn new(proxy: Rc<Proxy>, dest: Destination, waker: Waker, now: Instant) -> ProxyConnection {
        let q = proxy.config().queue_size;
        let origin = match &dest.role {
            Role::ExplicitProxy => Origin::None,
            Role::Transparent { name } => Origin::Direct { name: name.clone() },
        };
        ProxyConnection {
            proxy,
            dest,
            waker,
            now,
            last_progress: now,
            raw_in: ByteQueue::new(q),
            plain_in: ByteQueue::new(q),
            plain_out: ByteQueue::new(q),
            raw_out: ByteQueue::new(q),
            layer: Layer::Sniffing,
            origin,
            http: Http::AwaitingHead { started: None },
            guest_eof: false,
            closing: Closing::Open,
        }
    }

    /// Offers bytes the guest sent; returns how many were taken (the rest
    /// stays in the guest's TCP window until there is room).
    pub fn feed_guest(&mut self, data: &[u8], now: Instant) -> usize {
        self.now = now;
        if self.closing != Closing::Open || self.guest_eof {
            // Nothing more will be read: discard instead of stalling the peer.
            return data.len();
        }
        let n = self.raw_in.push(data);
        if n > 0 {
            self.last_progress = now;
            self.pump();
        }
        n
    }

    /// Moves bytes for the guest into `out`; returns the count.
    pub fn take_guest_output(&mut self, out: &mut [u8]) -> usize {
        if self.closing == Closing::Abort {
            return 0;
        }
        let n = self.raw_out.pop_into(out);
        if n > 0 {
            self.last_progress = self.now;
            self.pump();
        }
        n
    }

    /// Bytes waiting for the guest.
    pub fn guest_output_len(&self) -> usize {
        if self.closing == Closing::Abort {
            0
        } else {
            self.raw_out.len()
        }
    }

    /// The guest closed its sending side (TCP FIN).
    pub fn on_guest_close(&mut self, now: Instant) {
        self.now = now;
        self.guest_eof = true;
        self.pump();
    }

    /// Drives the connection: upstream events, timeouts. Call when woken,
    /// when `poll_at` is reached, or on every pass of the poll loop.
    pub fn poll(&mut self, now: Instant) {
        self.now = now;
        self.pump();
        self.check_timeouts();
        self.pump();
    }

    /// When `poll` must run next even if nothing else happens.
    pub fn poll_at(&self) -> Option<Instant> {
        if matches!(self.closing, Closing::Abort | Closing::Closed) {
            return None;
        }
        let t = &self.proxy.config().timeouts;
        let limit = match (&self.layer, &self.http) {
            (Layer::Sniffing, _) => t.request_head,
            (Layer::Ready(tr), _) if !tr.handshake_done() => t.request_head,
            (_, Http::AwaitingHead { started: Some(_) }) => t.request_head,
            (_, Http::AwaitingHead { started: None }) => t.keep_alive_idle,
            (_, Http::Forwarding(f)) if f.response.is_awaiting_head() => t.response_head,
            (_, Http::Forwarding(_)) => t.body_idle,
            (_, Http::Finished) => t.body_idle,
        };
        let since = match &self.http {
            Http::AwaitingHead { started: Some(s) } => *s,
            _ => self.last_progress,
        };
        Some(since.saturating_add(limit))
    }

    /// Everything is sent: close the guest socket (FIN).
    pub fn is_finished(&self) -> bool {
        self.closing == Closing::Closed && self.raw_out.is_empty()
    }

    /// The connection failed mid-response: reset the guest socket (RST)
    /// so the client sees an error rather than a short body.
    pub fn is_aborted(&self) -> bool {
        self.closing == Closing::Abort
    }

    fn pump(&mut self) {
        for _ in 0..MAX_PUMP_ROUNDS {
            if self.closing == Closing::Abort {
                return;
            }
            let mut progressed = self.pump_in();
            progressed |= self.pump_http();
            progressed |= self.pump_out();
            if !progressed {
                return;
            }
        }
        log::warn!("proxy connection still busy after {MAX_PUMP_ROUNDS} rounds");
        self.waker.wake_by_ref();
    }

    /// Whether the guest will send no more request bytes.
    fn input_ended(&mut self) -> bool {
        let tls_closed = match &mut self.layer {
            Layer::Ready(t) => t.peer_closed(),
            Layer::Sniffing => false,
        };
        (self.guest_eof && self.raw_in.is_empty()) || tls_closed || self.closing != Closing::Open
    }

    fn pump_in(&mut self) -> bool {
        if self.closing != Closing::Open {
            self.raw_in.clear();
            return false;
        }
        if let Layer::Sniffing = self.layer {
            let Some(&first) = self.raw_in.as_slice().first() else {
                if self.guest_eof {
                    // Closed before saying anything (or right after CONNECT).
                    self.http = Http::Finished;
                    self.closing = Closing::AfterFlush;
                    return true;
                }
                return false;
            };
            self.layer = match transport::sniff(first) {
                Sniffed::Tls => Layer::Ready(Transport::tls()),
                Sniffed::Http => Layer::Ready(Transport::Plain),
                Sniffed::Unknown => {
                    log::debug!("guest connection to port {} is neither TLS nor HTTP (first byte {first:#04x})", self.dest.port);
                    self.closing = Closing::Abort;
                    return false;
                }
            };
        }
        let certs = transport::Certs {
            ca: self.proxy.ca(),
            fallback: self.tls_fallback_name(),
        };
        let Layer::Ready(transport) = &mut self.layer else {
            return false;
        };
        match transport.read(
            &mut self.raw_in,
            &mut self.plain_in,
            &mut self.raw_out,
            &certs,
        ) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("guest connection to port {}: {e}", self.dest.port);
                // Let a queued TLS alert reach the guest, then close.
                self.http = Http::Finished;
                self.closing = Closing::AfterFlush;
                true
            }
        }
    }

    /// The certificate name when the ClientHello carries no SNI (clients
    /// omit it for IP literals, RFC 6066 §3).
    fn tls_fallback_name(&self) -> Option<String> {
        match &self.origin {
            Origin::Tunnel(a) => Some(a.host().to_string()),
            Origin::Direct { name } => name.clone(),
            Origin::None => None,
        }
    }

    fn pump_out(&mut self) -> bool {
        let mut progressed = match &mut self.layer {
            Layer::Ready(t) => t.write(&mut self.plain_out, &mut self.raw_out),
            Layer::Sniffing => {
                let n = self.raw_out.push(self.plain_out.as_slice());
                self.plain_out.consume(n);
                n > 0
            }
        };
        if self.closing == Closing::AfterFlush && self.plain_out.is_empty() {
            if let Layer::Ready(t) = &mut self.layer {
                t.close(&mut self.raw_out);
                if t.has_pending_output() {
                    return progressed;
                }
            }
            self.closing = Closing::Closed;
            progressed = true;
        }
        progressed
    }

    fn pump_http(&mut self) -> bool {
        match self.http {
            Http::AwaitingHead { .. } => self.try_start_request(),
            Http::Forwarding(_) => self.pump_forward(),
            Http::Finished => {
                if self.closing == Closing::Open {
                    self.closing = Closing::AfterFlush;
                    return true;
                }
                false
            }
        }
    }

    /// Parses the next request head if it has arrived and starts it.
    fn try_start_request(&mut self) -> bool {
        if !matches!(self.layer, Layer::Ready(_)) {
            return false;
        }
        if self.plain_in.is_empty() {
            if self.input_ended() {
                self.http = Http::Finished;
                return true;
            }
            return false;
        }
        if let Http::AwaitingHead {
            started: started @ None,
        } = &mut self.http
        {
            *started = Some(self.now);
        }
        let limits = self.proxy.config().limits;
        let (head, len) = match request::parse(self.plain_in.as_slice(), &limits) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                if self.input_ended() {
                    self.fail(
                        400,
                        "connection closed in the middle of a request head".into(),
                    );
                    return true;
                }
                return false;
            }
            Err(e) => {
                self.fail(e.status(), e.to_string());
                return true;
            }
        };
        self.plain_in.consume(len);
        self.last_progress = self.now;
        if head.is_connect() {
            self.open_tunnel(head);
            return true;
        }
        let url = match self.request_url(&head) {
            Ok(u) => u,
            Err(msg) => {
                self.fail(400, msg);
                return true;
            }
        };
        log::debug!("{} {url}", head.method);
        let body = match head.body {
            BodyDecoder::Length { remaining } => RequestBody::Length(remaining),
            BodyDecoder::Chunked(_) => RequestBody::Streamed,
            _ => RequestBody::None,
        };
        if head.expect_continue && head.has_body() && head.version == Version::Http11 {
            // RFC 9110 §10.1.1: a proxy may answer 100 itself; the upstream
            // gets the body without Expect.
            self.plain_out.push_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let request = UpstreamRequest {
            method: head.method.clone(),
            url: url.clone(),
            headers: headers::end_to_end(&head.headers, &["host", "content-length", "expect"]),
            body,
        };
        let exchange = self.proxy.upstream().start(request, self.waker.clone());
        self.http = Http::Forwarding(Box::new(Forward {
            exchange,
            url: url.to_string(),
            body_sent: false,
            request_body: head.body.clone(),
            response: ResponseState::AwaitingHead,
            keep_alive: head.keep_alive,
            version: head.version,
            head_only: head.method == "HEAD",
        }));
        true
    }

    /// The absolute URL a request goes to (RFC 9112 §3.3 reconstruction).
    fn request_url(&self, head: &RequestHead) -> Result<Url, String> {
        let tls = matches!(&self.layer, Layer::Ready(t) if t.is_tls());
        let scheme = if tls { Scheme::Https } else { Scheme::Http };
        let path = match &head.target {
            Target::Absolute(u) if !tls && matches!(self.origin, Origin::None) => {
                return Ok(u.clone())
            }
            Target::Absolute(u) => u.path.clone(),
            Target::Origin(p) => p.clone(),
            Target::Asterisk => return Err("OPTIONS * is not forwarded".into()),
            Target::Authority(_) => return Err("authority-form target outside CONNECT".into()),
        };
        let default_port = |p: u16| {
            if p == scheme.default_port() {
                None
            } else {
                Some(p)
            }
        };
        let authority = match &self.origin {
            Origin::Tunnel(a) => a.with_port(a.port().and_then(default_port)),
            Origin::Direct { name } => {
                let sni = match &self.layer {
                    Layer::Ready(t) => t.sni(),
                    Layer::Sniffing => None,
                };
                let host = match (tls, sni, head.host(), name) {
                    (true, Some(sni), _, _) => sni.to_string(),
                    (_, _, Some(h), _) => h.host().to_string(),
                    (_, _, None, Some(n)) => n.clone(),
                    _ => {
                        return Err("request names no host (no Host header, SNI or DNS name)".into())
                    }
                };
                Authority::from_host(&host, default_port(self.dest.port))?
            }
            Origin::None => return Err(
                "this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT"
                    .into(),
            ),
        };
        Url::new(scheme, authority, &path)
    }

    /// CONNECT (RFC 9110 §9.3.6): answer 200, then whatever the client
    /// sends is a new connection to the target, TLS or plain HTTP.
    fn open_tunnel(&mut self, head: RequestHead) {
        let Target::Authority(authority) = head.target else {
            self.fail(400, "CONNECT needs a host:port target".into());
            return;
        };
        let in_tunnel = matches!(self.origin, Origin::Tunnel(_))
            || matches!(&self.layer, Layer::Ready(t) if t.is_tls());
        if in_tunnel {
            self.fail(400, "CONNECT inside a tunnel".into());
            return;
        }
        log::debug!("CONNECT {authority}");
        self.plain_out
            .push_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        // The 200 goes out in plain text before the tunnel's first byte is read.
        self.pump_out();
        self.raw_out.push_all(self.plain_out.as_slice());
        self.plain_out.clear();
        // Bytes the client sent right after the CONNECT head belong to the tunnel.
        let mut raw = ByteQueue::new(self.raw_in.capacity());
        raw.push_all(self.plain_in.as_slice());
        raw.push_all(self.raw_in.as_slice());
        self.plain_in.clear();
        self.raw_in = raw;
        self.origin = Origin::Tunnel(authority);
        self.layer = Layer::Sniffing;
        self.http = Http::AwaitingHead { started: None };
    }

    fn pump_forward(&mut self) -> bool {
        let mut progressed = self.pump_request_body();
        progressed |= self.pump_response();
        let input_ended = self.plain_in.is_empty() && self.input_ended();
        let Http::Forwarding(f) = &self.http else {
            return progressed;
        };
        if f.response == ResponseState::Done {
            let reusable = f.keep_alive && f.body_sent;
            self.http = if reusable {
                Http::AwaitingHead { started: None }
            } else {
                Http::Finished
            };
            progressed = true;
        } else if !f.body_sent && input_ended {
            // The guest went away mid-upload: drop (cancel) the exchange.
            let waiting = f.response.is_awaiting_head();
            log::debug!("guest closed during the request body of {}", f.url);
            self.http = Http::Finished;
            if !waiting {
                self.closing = Closing::Abort;
            }
            progressed = true;
        }
        progressed
    }

    /// Request body: `plain_in` → decoder → exchange, as far as it takes.
    fn pump_request_body(&mut self) -> bool {
        let Http::Forwarding(f) = &mut self.http else {
            return false;
        };
        let mut progressed = false;
        while !f.body_sent {
            if f.request_body.is_done() {
                f.exchange.finish_body();
                f.body_sent = true;
                progressed = true;
                break;
            }
            let step = match f.request_body.advance(self.plain_in.as_slice()) {
                Ok(s) => s,
                Err(e) => {
                    let msg = format!("bad request body: {e}");
                    self.fail(400, msg);
                    return true;
                }
            };
            self.plain_in.consume(step.framing);
            progressed |= step.framing > 0;
            if step.data == 0 {
                if f.request_body.is_done() {
                    continue;
                }
                break;
            }
            let taken = f
                .exchange
                .write_body(&self.plain_in.as_slice()[..step.data]);
            f.request_body.consume_data(taken);
            self.plain_in.consume(taken);
            if taken == 0 {
                break;
            }
            progressed = true;
            self.last_progress = self.now;
        }
        progressed
    }

    /// Response: exchange events → `plain_out`, while there is room.
    fn pump_response(&mut self) -> bool {
        let mut progressed = false;
        loop {
            let Http::Forwarding(f) = &mut self.http else {
                return progressed;
            };
            if f.response == ResponseState::Done || self.plain_out.room() == 0 {
                return progressed;
            }
            let Some(event) = f.exchange.poll_event() else {
                return progressed;
            };
            progressed = true;
            self.last_progress = self.now;
            match (event, f.response) {
                (UpstreamEvent::Head(h), ResponseState::AwaitingHead) => {
                    let no_body = f.head_only
                        || h.body == ResponseBody::None
                        || matches!(h.status, 204 | 304);
                    let framing = match h.body {
                        _ if no_body => Framing::None,
                        ResponseBody::Length(n) => Framing::Length(n),
                        _ => response::framing_for(None, f.version),
                    };
                    if framing == Framing::Close {
                        f.keep_alive = false;
                    }
                    let end_to_end = headers::end_to_end(&h.headers, &[]);
                    let bytes =
                        response::head(h.status, &h.reason, &end_to_end, framing, !f.keep_alive);
                    self.plain_out.push_all(&bytes);
                    let remaining = match framing {
                        Framing::Length(n) => Some(n),
                        _ => None,
                    };
                    f.response = ResponseState::Body { framing, remaining };
                }
                (UpstreamEvent::Body(data), ResponseState::Body { framing, remaining }) => {
                    if let Some(r) = remaining {
                        if data.len() as u64 > r {
                            let msg =
                                format!("{}: upstream sent more than its Content-Length", f.url);
                            self.abort(msg);
                            return true;
                        }
                        f.response = ResponseState::Body {
                            framing,
                            remaining: Some(r - data.len() as u64),
                        };
                    }
                    match framing {
                        Framing::None => {}
                        _ if data.is_empty() => {}
                        Framing::Chunked => {
                            self.plain_out
                                .push_all(chunked::chunk_header(data.len()).as_bytes());
                            self.plain_out.push_all(&data);
                            self.plain_out.push_all(chunked::CHUNK_END);
                        }
                        Framing::Length(_) | Framing::Close => self.plain_out.push_all(&data),
                    }
                }
                (UpstreamEvent::End, ResponseState::Body { framing, remaining }) => {
                    if remaining.is_some_and(|r| r > 0) {
                        let msg = format!("{}: upstream body ended early", f.url);
                        self.abort(msg);
                        return true;
                    }
                    if framing == Framing::Chunked {
                        self.plain_out.push_all(chunked::LAST_CHUNK);
                    }
                    f.response = ResponseState::Done;
                }
                (UpstreamEvent::Error(e), ResponseState::AwaitingHead) => {
                    let msg = format!("{}: {e}", f.url);
                    log::debug!("upstream failed: {msg}");
                    self.fail(e.status(), msg);
                    return true;
                }
                (UpstreamEvent::Error(e), _) => {
                    let msg = format!("{}: {e}", f.url);
                    self.abort(msg);
                    return true;
                }
                (event, state) => {
                    let msg = format!(
                        "{}: upstream event {event:?} out of order in {state:?}",
                        f.url
                    );
                    self.abort(msg);
                    return true;
                }
            }
        }
    }

    /// Answers the current request with an error of the proxy's own and
    /// ends the connection (the request stream cannot be trusted after).
    fn fail(&mut self, status: u16, message: String) {
        if let Http::Forwarding(f) = &self.http {
            if !f.response.is_awaiting_head() {
                self.abort(message);
                return;
            }
        }
        log::debug!("answering {status}: {message}");
        self.plain_out.push_all(&response::error(status, &message));
        self.http = Http::Finished;
    }

    /// Resets the connection: a response already started cannot carry an error.
    fn abort(&mut self, message: String) {
        log::debug!("resetting guest connection: {message}");
        self.http = Http::Finished;
        self.closing = Closing::Abort;
    }

    fn check_timeouts(&mut self) {
        let Some(deadline) = self.poll_at() else {
            return;
        };
        if self.now < deadline {
            return;
        }
        let handshaking = match &self.layer {
            Layer::Sniffing => true,
            Layer::Ready(t) => !t.handshake_done(),
        };
        match &self.http {
            _ if handshaking => self.abort("no TLS handshake or request in time".into()),
            Http::AwaitingHead { started: None } => {
                log::debug!("closing idle guest connection");
                self.http = Http::Finished;
            }
            Http::AwaitingHead { started: Some(_) } => {
                self.fail(408, "request head not received in time".into())
            }
            Http::Forwarding(f) if f.response.is_awaiting_head() => {
                let msg = format!(
                    "{}: no response within {:?}",
                    f.url,
                    self.proxy.config().timeouts.response_head
                );
                self.fail(504, msg);
            }
            Http::Forwarding(f) => {
                let msg = format!("{}: response stalled", f.url);
                self.abort(msg);
            }
            Http::Finished => self.abort("guest did not take the last response in time".into()),
        }
    }
}

impl ResponseState {
    fn is_awaiting_head(&self) -> bool {
        *self == ResponseState::AwaitingHead
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
