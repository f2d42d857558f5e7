//! The seam between the proxy and the real network: an [`Upstream`]
//! starts requests, each an [`Exchange`] whose events arrive later.
//!
//! Nothing here blocks. The proxy runs inside a single-threaded poll loop
//! (smoltcp natively, a Web Worker in the browser), so an implementation
//! does its work elsewhere — threads for the native client, the browser's
//! event loop for Fetch — and the proxy polls for what has arrived. When
//! something arrives (an event, or room for more request body) the
//! implementation calls the `Waker` given to `start`, so the embedder knows
//! to poll that connection again.

use crate::http::{Header, Url};
use std::fmt;
use std::task::Waker;

/// Largest body piece an implementation should hand over in one event;
/// the proxy's memory use per connection is bounded by a few of these.
pub const MAX_BODY_CHUNK: usize = 64 * 1024;

/// How the request body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Length unknown in advance (the guest sent chunked).
    Streamed,
}

/// A request to send. Hop-by-hop and framing fields (Host, Connection,
/// Content-Length, Transfer-Encoding, Expect, Proxy-*) are already removed:
/// the implementation derives Host from `url` and frames `body` itself.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: String,
    pub url: Url,
    pub headers: Vec<Header>,
    pub body: RequestBody,
}

/// Length of a response body, as the events will deliver it (decoded of
/// any transfer coding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (HEAD request, 204, 304).
    None,
    Length(u64),
    Unknown,
}

#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// Final status, 200..=599 (interim 1xx answers are not reported).
    pub status: u16,
    pub reason: String,
    /// End-to-end fields. With `ResponseBody::None` a Content-Length field
    /// here is passed through (it describes the representation, RFC 9110 §8.6).
    pub headers: Vec<Header>,
    pub body: ResponseBody,
}

/// What can happen to an exchange, in order: one `Head`, any number of
/// `Body`, then `End`; or `Error` at any point.
#[derive(Debug)]
pub enum UpstreamEvent {
    Head(ResponseHead),
    /// At most [`MAX_BODY_CHUNK`] bytes.
    Body(Vec<u8>),
    End,
    Error(UpstreamError),
}

/// Why an upstream request failed; the kind picks the words of the 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host name did not resolve.
    Dns,
    /// TCP connection refused (RST to the SYN).
    Refused,
    /// Other failures to connect (unreachable, reset).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The browser refused the cross-origin request (Fetch only).
    Cors,
    /// No answer in time.
    Timeout,
    /// The server answered with something that is not HTTP/1.x.
    Protocol,
    /// A request the implementation cannot make (method, scheme...).
    Unsupported,
    /// Any other I/O failure mid-exchange.
    Io,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl UpstreamError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError {
            kind,
            detail: detail.into(),
        }
    }

    /// The HTTP status the guest gets for this failure (RFC 9110 §15.6).
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::Timeout => 504,
            _ => 502,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Dns => "DNS lookup failed",
            ErrorKind::Refused => "connection refused",
            ErrorKind::Connect => "cannot connect",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Cors => "refused by the browser (CORS)",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Protocol => "bad response from server",
            ErrorKind::Unsupported => "unsupported request",
            ErrorKind::Io => "I/O error",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for UpstreamError {}

/// Makes requests to the outside world.
pub trait Upstream {
    /// Starts `request`. Returns at once; failures (even immediate ones)
    /// arrive as an `Error` event. `waker` is woken whenever the exchange
    /// has a new event or accepts more request body.
    fn start(&self, request: UpstreamRequest, waker: Waker) -> Box<dyn Exchange>;
}

/// One request/response in flight. Dropping it cancels the request.
pub trait Exchange {
    /// Offers request body bytes; returns how many were taken (0 when its
    /// buffer is full: wait for the waker). Never more than the request's
    /// declared length is offered.
    fn write_body(&mut self, data: &[u8]) -> usize;
    /// The request body is complete.
    fn finish_body(&mut self);
    /// The next event, if one has arrived. An implementation buffers only
    /// a bounded amount: when the proxy stops polling (its guest is slow),
    /// it must stop reading from the network.
    fn poll_event(&mut self) -> Option<UpstreamEvent>;
}
