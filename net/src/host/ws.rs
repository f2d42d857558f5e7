//! The WebSocket handshake policy for `--listen-ws`: which pages may open
//! the socket (the `Origin` check) and the `binary` subprotocol that
//! emscripten's socket emulation asks for.

use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};

/// The subprotocol emscripten offers (`Sec-WebSocket-Protocol: binary`) and
/// expects echoed (RFC 6455 §4.2.2: the server picks one the client offered).
pub const SUBPROTOCOL: &str = "binary";

/// Whether a browser page at `origin` may connect. Loopback pages on any
/// port pass; others only if `allowed` lists them (or holds `*`).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    if allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return false;
    }
    // Origin is scheme "://" host [":" port] (RFC 6454 §6.1); no path, no userinfo.
    if rest.contains(['/', '@', '?', '#']) {
        return false;
    }
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) if tail.is_empty() || valid_port(tail) => h,
            _ => return false,
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, port)) if valid_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    matches!(host.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1")
}

fn valid_port(tail: &str) -> bool {
    tail.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Handshake callback: checks `Origin`, echoes `binary` when offered.
pub struct Policy {
    pub allowed_origins: Vec<String>,
}

impl Callback for Policy {
    fn on_request(self, request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        // Requests without Origin come from non-browser clients, which any
        // local process could run anyway; the check stops foreign web pages.
        if let Some(origin) = request.headers().get("Origin") {
            let origin = origin.to_str().unwrap_or("");
            if !origin_allowed(origin, &self.allowed_origins) {
                log::warn!("websocket from origin {origin:?} refused (see --allow-origin)");
                let mut refusal = ErrorResponse::new(Some(format!("origin {origin} not allowed\n")));
                *refusal.status_mut() = StatusCode::FORBIDDEN;
                return Err(refusal);
            }
        }
        let offers_binary = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        if offers_binary {
            response.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_pass_on_any_port() {
        for o in [
            "http://localhost",
            "http://localhost:8080",
            "https://127.0.0.1:443",
            "http://[::1]:3000",
            "http://[::1]",
            "HTTP://LOCALHOST:1/",
        ] {
            assert!(origin_allowed(o, &[]), "{o}");
        }
    }

    #[test]
    fn foreign_and_tricky_origins_are_refused() {
        for o in [
            "http://evil.example",
            "https://localhost.evil.example",
            "http://localhost@evil.example",
            "http://127.0.0.1.evil.example:80",
            "file://localhost",
            "null",
            "http://localhost:port",
            "http://[::1]evil",
            "",
        ] {
            assert!(!origin_allowed(o, &[]), "{o}");
        }
    }

    #[test]
    fn allow_list_admits_exact_origins() {
        let allowed = vec!["https://demo.example:8443".to_string()];
        assert!(origin_allowed("https://demo.example:8443", &allowed));
        assert!(!origin_allowed("https://demo.example", &allowed));
        assert!(origin_allowed("https://anything.example", &["*".to_string()]));
    }
}
