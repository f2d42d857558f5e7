//! Request heads from the guest (RFC 9112 §3), parsed with `httparse`
//! into a checked [`RequestHead`] with its body framing decided.

use super::body::BodyDecoder;
use super::headers::{self, Header};
use super::url::{Authority, Url};
use std::fmt;

/// Bounds on what a request head may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of request line plus header section.
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// The request-target forms of RFC 9112 §3.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/path?query`
    Origin(String),
    /// `http://host/path` — what proxies receive.
    Absolute(Url),
    /// `host:port` — CONNECT only.
    Authority(Authority),
    /// `*` — server-wide OPTIONS.
    Asterisk,
}

#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    pub target: Target,
    pub version: Version,
    pub headers: Vec<Header>,
    /// How the body that follows is framed.
    pub body: BodyDecoder,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (RFC 9110 §10.1.1).
    pub expect_continue: bool,
}

impl RequestHead {
    pub fn is_connect(&self) -> bool {
        self.method == "CONNECT"
    }

    pub fn has_body(&self) -> bool {
        !self.body.is_done()
    }

    /// The Host header's authority, if present and well-formed.
    pub fn host(&self) -> Option<Authority> {
        let value = headers::single(&self.headers, "host").ok()??;
        Authority::parse(std::str::from_utf8(value).ok()?.trim()).ok()
    }
}

/// Why a request head was refused; each maps to a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Head larger than [`Limits::max_head_bytes`] or too many fields (431).
    TooLarge(String),
    /// Syntax error (400).
    Malformed(String),
    /// A transfer coding other than chunked (501, RFC 9112 §6.1).
    UnsupportedCoding(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge(m) => write!(f, "request head too large: {m}"),
            ParseError::Malformed(m) => write!(f, "malformed request: {m}"),
            ParseError::UnsupportedCoding(m) => write!(f, "unsupported transfer coding: {m}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    pub fn status(&self) -> u16 {
        match self {
            ParseError::TooLarge(_) => 431,
            ParseError::Malformed(_) => 400,
            ParseError::UnsupportedCoding(_) => 501,
        }
    }
}

/// Parses a request head from the front of `input`. `Ok(None)` means more
/// bytes are needed; `Ok(Some((head, n)))` means the head used `n` bytes.
pub fn parse(input: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    // RFC 9112 §2.2: ignore at least one empty line before a request line.
    let skip = input
        .iter()
        .take(4)
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let input_after = &input[skip..];
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let status = match req.parse(input_after) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ParseError::TooLarge(format!(
                "more than {} header fields",
                limits.max_headers
            )))
        }
        Err(e) => return Err(ParseError::Malformed(e.to_string())),
    };
    let len = match status {
        httparse::Status::Partial => {
            if input.len() >= limits.max_head_bytes {
                return Err(ParseError::TooLarge(format!(
                    "over {} bytes",
                    limits.max_head_bytes
                )));
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n + skip,
    };
    if len > limits.max_head_bytes {
        return Err(ParseError::TooLarge(format!(
            "{len} bytes, limit {}",
            limits.max_head_bytes
        )));
    }
    let method = req.method.unwrap_or_default().to_string();
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let raw_target = req.path.unwrap_or_default();
    let headers: Vec<Header> = req
        .headers
        .iter()
        .map(|h| Header::new(h.name, h.value))
        .collect();
    let target = parse_target(&method, raw_target)?;
    let body = framing(&headers, version)?;
    let connection: Vec<String> = headers::tokens(&headers, "connection")
        .chain(headers::tokens(&headers, "proxy-connection"))
        .collect();
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; 1.0 only with "keep-alive".
    let keep_alive = match version {
        Version::Http11 => !connection.iter().any(|t| t == "close"),
        Version::Http10 => {
            connection.iter().any(|t| t == "keep-alive") && !connection.iter().any(|t| t == "close")
        }
    };
    let expect_continue = headers::tokens(&headers, "expect").any(|t| t == "100-continue");
    Ok(Some((
        RequestHead {
            method,
            target,
            version,
            headers,
            body,
            keep_alive,
            expect_continue,
        },
        len,
    )))
}

fn parse_target(method: &str, raw: &str) -> Result<Target, ParseError> {
    let bad = |m: String| ParseError::Malformed(m);
    if method == "CONNECT" {
        // RFC 9112 §3.2.3: authority-form, port required.
        let a = Authority::parse(raw).map_err(bad)?;
        if a.port().is_none() {
            return Err(bad(format!("CONNECT target {raw:?} has no port")));
        }
        return Ok(Target::Authority(a));
    }
    if raw == "*" {
        return Ok(Target::Asterisk);
    }
    if raw.starts_with('/') {
        return Ok(Target::Origin(raw.to_string()));
    }
    Url::parse(raw).map(Target::Absolute).map_err(bad)
}

/// RFC 9112 §6.3 for requests: Transfer-Encoding chunked, else
/// Content-Length, else no body. Both present is refused (§6.3 rule 3
/// allows it; it is the classic request-smuggling vector).
fn framing(headers: &[Header], version: Version) -> Result<BodyDecoder, ParseError> {
    let te: Vec<String> = headers::tokens(headers, "transfer-encoding").collect();
    let has_cl = headers.iter().any(|h| h.is("content-length"));
    if !te.is_empty() || headers.iter().any(|h| h.is("transfer-encoding")) {
        if has_cl {
            return Err(ParseError::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        if version == Version::Http10 {
            return Err(ParseError::Malformed(
                "Transfer-Encoding in an HTTP/1.0 request".into(),
            ));
        }
        if te != ["chunked"] {
            return Err(ParseError::UnsupportedCoding(te.join(", ")));
        }
        return Ok(BodyDecoder::chunked());
    }
    let mut length: Option<u64> = None;
    for h in headers.iter().filter(|h| h.is("content-length")) {
        let n = headers::parse_content_length(&h.value).map_err(ParseError::Malformed)?;
        if length.is_some_and(|l| l != n) {
            return Err(ParseError::Malformed(
                "conflicting Content-Length fields".into(),
            ));
        }
        length = Some(n);
    }
    Ok(BodyDecoder::length(length.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (RequestHead, usize) {
        parse(text.as_bytes(), &Limits::default()).unwrap().unwrap()
    }

    #[test]
    fn absolute_form_proxy_request() {
        let text = "GET https://example.com/a?b HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\nrest";
        let (h, n) = ok(text);
        assert_eq!(n, text.len() - 4);
        assert_eq!(h.method, "GET");
        let Target::Absolute(u) = &h.target else {
            panic!("{:?}", h.target)
        };
        assert_eq!(u.to_string(), "https://example.com/a?b");
        assert!(!h.keep_alive);
        assert!(!h.has_body());
    }

    #[test]
    fn connect_and_origin_forms() {
        let (h, _) = ok("CONNECT example.com:443 HTTP/1.1\r\n\r\n");
        assert_eq!(
            h.target,
            Target::Authority(Authority::parse("example.com:443").unwrap())
        );
        let (h, _) =
            ok("\r\nPOST /x HTTP/1.1\r\nHost: a:8080\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.target, Target::Origin("/x".into()));
        assert_eq!(h.host().unwrap().to_string(), "a:8080");
        assert_eq!(h.body, BodyDecoder::chunked());
        assert!(h.keep_alive);
        let (h, _) = ok("GET / HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive);
        let (h, _) = ok("PUT / HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(h.body, BodyDecoder::length(10));
        assert!(h.expect_continue);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert!(
            parse(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n", &Limits::default())
                .unwrap()
                .is_none()
        );
        assert!(parse(b"", &Limits::default()).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_requests() {
        let cases: &[(&str, u16)] = &[
            (
                "GET http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (
                "GET http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                501,
            ),
            (
                "GET http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                "GET http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            ("CONNECT a HTTP/1.1\r\n\r\n", 400),
            ("GET ftp://a/ HTTP/1.1\r\n\r\n", 400),
            ("GET http://a/ HTTP/2.0\r\n\r\n", 400),
            ("G\x01T / HTTP/1.1\r\n\r\n", 400),
        ];
        for (text, status) in cases {
            let e = parse(text.as_bytes(), &Limits::default()).unwrap_err();
            assert_eq!(e.status(), *status, "{text:?}: {e}");
        }
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits {
            max_head_bytes: 64,
            max_headers: 2,
        };
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100));
        assert_eq!(parse(long.as_bytes(), &limits).unwrap_err().status(), 431);
        let many = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert_eq!(parse(many.as_bytes(), &limits).unwrap_err().status(), 431);
    }
}
