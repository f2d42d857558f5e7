//! One upstream HTTP/1.1 exchange on its own thread, over plain TCP or
//! rustls, reporting back through bounded channels.

use super::{BodyPiece, NativeOptions};
use crate::http::{chunked, headers, BodyDecoder, Header, Scheme};
use crate::upstream::{
    ErrorKind, RequestBody, ResponseBody, ResponseHead, UpstreamError, UpstreamEvent,
    UpstreamRequest, MAX_BODY_CHUNK,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::task::Waker;

/// Response heads larger than this are refused, as the proxy's own limit for requests.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_RESPONSE_HEADERS: usize = 128;

pub(crate) struct Job {
    pub request: UpstreamRequest,
    pub tls: Arc<rustls::ClientConfig>,
    pub options: NativeOptions,
    pub body: Receiver<BodyPiece>,
    pub events: SyncSender<UpstreamEvent>,
    pub socket: Arc<Mutex<super::SocketSlot>>,
    pub waker: Waker,
}

/// The exchange was cancelled (the proxy dropped it): stop quietly.
struct Cancelled;

enum Failure {
    Error(UpstreamError),
    Cancelled,
}

impl From<UpstreamError> for Failure {
    fn from(e: UpstreamError) -> Self {
        Failure::Error(e)
    }
}

impl From<Cancelled> for Failure {
    fn from(_: Cancelled) -> Self {
        Failure::Cancelled
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => match s.read(buf) {
                // Many servers close without close_notify after a
                // close-delimited or complete body; framing decides
                // whether the body is whole.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

impl Job {
    pub fn run(self) {
        let Job {
            request,
            tls,
            options,
            body,
            events,
            socket,
            waker,
        } = self;
        let ctx = Ctx { events, waker };
        match exchange(&ctx, &request, tls, &options, body, &socket) {
            Ok(()) | Err(Failure::Cancelled) => {}
            Err(Failure::Error(e)) => {
                log::debug!("upstream {} {}: {e}", request.method, request.url);
                let _ = ctx.send(UpstreamEvent::Error(e));
            }
        }
    }
}

struct Ctx {
    events: SyncSender<UpstreamEvent>,
    waker: Waker,
}

impl Ctx {
    /// Blocks while the proxy's queue is full: that is the backpressure.
    fn send(&self, ev: UpstreamEvent) -> Result<(), Cancelled> {
        let r = self.events.send(ev).map_err(|_| Cancelled);
        self.waker.wake_by_ref();
        r
    }
}

fn exchange(
    ctx: &Ctx,
    req: &UpstreamRequest,
    tls: Arc<rustls::ClientConfig>,
    options: &NativeOptions,
    body: Receiver<BodyPiece>,
    socket: &Mutex<super::SocketSlot>,
) -> Result<(), Failure> {
    let host = req.url.authority.host_unbracketed().to_string();
    let port = req.url.port();
    let tcp = connect(&host, port, options)?;
    let io_err = |what: &str, e: io::Error| classify_io(&format!("{what} {host}:{port}"), e);
    tcp.set_nodelay(true)
        .map_err(|e| io_err("configuring socket to", e))?;
    tcp.set_read_timeout(Some(options.io_timeout))
        .map_err(|e| io_err("configuring socket to", e))?;
    tcp.set_write_timeout(Some(options.io_timeout))
        .map_err(|e| io_err("configuring socket to", e))?;
    {
        let mut slot = socket.lock().unwrap_or_else(|p| p.into_inner());
        if slot.cancelled {
            return Err(Failure::Cancelled);
        }
        slot.stream = tcp.try_clone().ok();
    }

    let mut conn = match req.url.scheme {
        Scheme::Http => Conn::Plain(tcp),
        Scheme::Https => Conn::Tls(Box::new(tls_handshake(tls, &host, port, tcp)?)),
    };

    conn.write_all(&request_head(req))
        .map_err(|e| io_err("sending request to", e))?;
    // A server may answer (and close) before reading the whole body, e.g.
    // 413: keep the write error and still try to read its answer.
    let write_error = send_body(ctx, req, &mut conn, body)?.err();
    let _ = conn.flush();

    let mut buf = Vec::with_capacity(16 * 1024);
    let head = match read_head(&mut conn, &mut buf, req.method == "HEAD") {
        Ok(h) => h,
        Err(e) => {
            return Err(write_error
                .map(|w| io_err("sending request body to", w))
                .unwrap_or(e)
                .into())
        }
    };
    let (head, mut decoder) = head;
    ctx.send(UpstreamEvent::Head(head))?;

    let mut chunk = vec![0u8; MAX_BODY_CHUNK];
    loop {
        // Hand over what is buffered, then read more.
        loop {
            let step = decoder.advance(&buf).map_err(|e| {
                UpstreamError::new(
                    ErrorKind::Protocol,
                    format!("response body from {host}: {e}"),
                )
            })?;
            buf.drain(..step.framing);
            if step.data == 0 {
                break;
            }
            let n = step.data.min(MAX_BODY_CHUNK);
            ctx.send(UpstreamEvent::Body(buf[..n].to_vec()))?;
            decoder.consume_data(n);
            buf.drain(..n);
        }
        if decoder.is_done() {
            return Ok(ctx.send(UpstreamEvent::End)?);
        }
        let n = conn
            .read(&mut chunk)
            .map_err(|e| io_err("reading response from", e))?;
        if n == 0 {
            decoder.on_eof().map_err(|e| {
                UpstreamError::new(ErrorKind::Io, format!("response from {host}:{port}: {e}"))
            })?;
            return Ok(ctx.send(UpstreamEvent::End)?);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn connect(host: &str, port: u16, options: &NativeOptions) -> Result<TcpStream, UpstreamError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| UpstreamError::new(ErrorKind::Dns, format!("{host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(UpstreamError::new(
            ErrorKind::Dns,
            format!("{host}: no addresses"),
        ));
    }
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, options.connect_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("at least one address was tried");
    let detail = if addr.ip().to_string() == host {
        format!("{addr}: {e}")
    } else {
        format!("{host}:{port} ({addr}): {e}")
    };
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => UpstreamError::new(ErrorKind::Refused, detail),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            UpstreamError::new(ErrorKind::Timeout, detail)
        }
        _ => UpstreamError::new(ErrorKind::Connect, detail),
    })
}

fn tls_handshake(
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    mut tcp: TcpStream,
) -> Result<StreamOwned<ClientConnection, TcpStream>, UpstreamError> {
    let tls_err = |m: String| UpstreamError::new(ErrorKind::Tls, format!("{host}:{port}: {m}"));
    let name = ServerName::try_from(host.to_string()).map_err(|e| tls_err(e.to_string()))?;
    let mut conn = ClientConnection::new(tls, name).map_err(|e| tls_err(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| classify_io(&format!("TLS handshake with {host}:{port}"), e))?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Sorts an I/O error into the kinds a 502 explains; rustls errors
/// travel inside `io::Error`.
fn classify_io(context: &str, e: io::Error) -> UpstreamError {
    let detail = format!("{context}: {e}");
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return UpstreamError::new(ErrorKind::Tls, detail);
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            UpstreamError::new(ErrorKind::Timeout, detail)
        }
        io::ErrorKind::ConnectionRefused => UpstreamError::new(ErrorKind::Refused, detail),
        _ => UpstreamError::new(ErrorKind::Io, detail),
    }
}

fn request_head(req: &UpstreamRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(
        format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            req.method,
            req.url.path,
            req.url.host_header()
        )
        .as_bytes(),
    );
    for Header { name, value } in &req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    match req.body {
        RequestBody::Length(n) => {
            out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
        }
        RequestBody::Streamed => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        // RFC 9110 §8.6: a body-carrying method without one says so.
        RequestBody::None if matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") => {
            out.extend_from_slice(b"Content-Length: 0\r\n")
        }
        RequestBody::None => {}
    }
    // One request per connection keeps the worker simple; the guest's own
    // connection to the proxy stays keep-alive.
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// Copies the request body from the proxy to the server. `Ok(Err(e))`
/// is a write failure (the server may still have answered).
fn send_body(
    ctx: &Ctx,
    req: &UpstreamRequest,
    conn: &mut Conn,
    body: Receiver<BodyPiece>,
) -> Result<Result<(), io::Error>, Cancelled> {
    if req.body == RequestBody::None {
        return Ok(Ok(()));
    }
    let chunked = req.body == RequestBody::Streamed;
    loop {
        let piece = body.recv().map_err(|_| Cancelled)?;
        // The proxy may push more now.
        ctx.waker.wake_by_ref();
        let written = match piece {
            BodyPiece::Data(data) if data.is_empty() => Ok(()),
            BodyPiece::Data(data) if chunked => conn
                .write_all(chunked::chunk_header(data.len()).as_bytes())
                .and_then(|_| conn.write_all(&data))
                .and_then(|_| conn.write_all(chunked::CHUNK_END)),
            BodyPiece::Data(data) => conn.write_all(&data),
            BodyPiece::End if chunked => return Ok(conn.write_all(chunked::LAST_CHUNK)),
            BodyPiece::End => return Ok(Ok(())),
        };
        if let Err(e) = written {
            // Dropping the receiver tells the proxy to discard the rest.
            return Ok(Err(e));
        }
    }
}

/// Reads the final response head (skipping 1xx interim answers,
/// RFC 9110 §15.2) and decides the body framing (RFC 9112 §6.3).
fn read_head(
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> Result<(ResponseHead, BodyDecoder), UpstreamError> {
    let proto = |m: String| UpstreamError::new(ErrorKind::Protocol, m);
    let mut chunk = [0u8; 8192];
    loop {
        let parsed = {
            let mut storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut resp = httparse::Response::new(&mut storage);
            match resp.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let reason = resp.reason.unwrap_or("").to_string();
                    let hs: Vec<Header> = resp
                        .headers
                        .iter()
                        .map(|h| Header::new(h.name, h.value))
                        .collect();
                    Some((len, status, reason, hs))
                }
                Ok(httparse::Status::Partial) => None,
                Err(e) => return Err(proto(format!("unparsable response head: {e}"))),
            }
        };
        let Some((len, status, reason, hs)) = parsed else {
            if buf.len() > MAX_RESPONSE_HEAD {
                return Err(proto(format!(
                    "response head over {MAX_RESPONSE_HEAD} bytes"
                )));
            }
            let n = conn
                .read(&mut chunk)
                .map_err(|e| classify_io("reading response head", e))?;
            if n == 0 {
                return Err(proto("connection closed before a response".into()));
            }
            buf.extend_from_slice(&chunk[..n]);
            continue;
        };
        buf.drain(..len);
        if status == 101 {
            return Err(proto(
                "server switched protocols, which the proxy does not forward".into(),
            ));
        }
        if (100..200).contains(&status) {
            continue;
        }
        if !(200..600).contains(&status) {
            return Err(proto(format!("status {status}")));
        }
        let framing_err = |m: String| proto(format!("response framing: {m}"));
        let te: Vec<String> = headers::tokens(&hs, "transfer-encoding").collect();
        let (decoder, body) = if head_request || status == 204 || status == 304 {
            (BodyDecoder::Done, ResponseBody::None)
        } else if !te.is_empty() {
            if te.last().map(String::as_str) != Some("chunked") {
                // RFC 9112 §6.3 rule 4: read until close, codings untouched.
                (BodyDecoder::UntilClose, ResponseBody::Unknown)
            } else if te.len() == 1 {
                (BodyDecoder::chunked(), ResponseBody::Unknown)
            } else {
                return Err(framing_err(format!("transfer codings {te:?}")));
            }
        } else if let Some(v) = headers::single(&hs, "content-length").map_err(framing_err)? {
            let n = headers::parse_content_length(v).map_err(framing_err)?;
            (BodyDecoder::length(n), ResponseBody::Length(n))
        } else {
            (BodyDecoder::UntilClose, ResponseBody::Unknown)
        };
        let keep = headers::end_to_end(&hs, &[]);
        return Ok((
            ResponseHead {
                status,
                reason,
                headers: keep,
                body,
            },
            decoder,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Url;

    #[test]
    fn request_head_reframes_the_body() {
        let req = UpstreamRequest {
            method: "POST".into(),
            url: Url::parse("http://example.com:8080/up?x=1").unwrap(),
            headers: vec![Header::new("Accept", "*/*")],
            body: RequestBody::Streamed,
        };
        let text = String::from_utf8(request_head(&req)).unwrap();
        assert_eq!(
            text,
            "POST /up?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let req = UpstreamRequest {
            body: RequestBody::None,
            ..req
        };
        assert!(String::from_utf8(request_head(&req))
            .unwrap()
            .contains("Content-Length: 0\r\n"));
    }
}
