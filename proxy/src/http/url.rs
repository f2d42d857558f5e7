//! The parts of a URL the proxy needs: scheme, authority and path.
//!
//! Host names come from the guest (request lines, Host headers, SNI) and
//! are hostile: they are checked against a strict character set before they
//! reach a certificate, a DNS lookup or a log line.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// RFC 9110 §4.2.1 / §4.2.2.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// `host[:port]`, host lowercased; an IPv6 literal keeps its brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authority {
    host: String,
    port: Option<u16>,
}

/// Longest DNS name (RFC 1035 §2.3.4) plus room for an IPv6 literal.
const MAX_HOST_LEN: usize = 253;

impl Authority {
    /// Parses `host[:port]` or `[v6]:port` (RFC 9110 §4.2.3, RFC 3986 §3.2.2).
    /// Userinfo (`user@host`) is refused: proxies must not forward it.
    pub fn parse(text: &str) -> Result<Authority, String> {
        if text.is_empty() {
            return Err("empty authority".into());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("unterminated IPv6 literal in {text:?}"))?;
            let host = &text[..end + 2];
            let after = &rest[end + 1..];
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("junk after IPv6 literal in {text:?}"))?,
                ),
            };
            let inner = &rest[..end];
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(format!("bad IPv6 literal in {text:?}"));
            }
            (host, port)
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        check_host(host)?;
        let port = match port {
            None => None,
            Some(p) => Some(parse_port(p).ok_or_else(|| format!("bad port in {text:?}"))?),
        };
        Ok(Authority {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// An authority from a bare host name (SNI, DNS pool name) and a port.
    pub fn from_host(host: &str, port: Option<u16>) -> Result<Authority, String> {
        check_host(host)?;
        Ok(Authority {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without IPv6 brackets, as a resolver or TLS name wants it.
    pub fn host_unbracketed(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn with_port(&self, port: Option<u16>) -> Authority {
        Authority {
            host: self.host.clone(),
            port,
        }
    }

    pub fn port_or(&self, scheme: Scheme) -> u16 {
        self.port.unwrap_or(scheme.default_port())
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{}", self.host, p),
            None => f.write_str(&self.host),
        }
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Registered names are restricted to LDH labels plus `_` (seen in real
/// DNS), IPv4 literals fall in that set, IPv6 literals were checked above.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(format!("host name of {} bytes", host.len()));
    }
    if host.starts_with('[') {
        return Ok(());
    }
    if host.starts_with('.') || host.contains("..") {
        return Err(format!("empty label in host {host:?}"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(format!(
            "bad character in host {:?}",
            host.escape_debug().to_string()
        ));
    }
    Ok(())
}

/// An absolute http(s) URL, split and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Path and query, always starting with `/` (RFC 9112 §3.2.1 origin-form).
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port]/path?query` (RFC 9112 §3.2.2 absolute-form).
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = match text.find("://") {
            Some(i) if text[..i].eq_ignore_ascii_case("http") => (Scheme::Http, &text[i + 3..]),
            Some(i) if text[..i].eq_ignore_ascii_case("https") => (Scheme::Https, &text[i + 3..]),
            _ => return Err(format!("not an http(s) URL: {:?}", truncate(text))),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = Authority::parse(&rest[..end])?;
        let path = origin_path(&rest[end..])?;
        Ok(Url {
            scheme,
            authority,
            path,
        })
    }

    pub fn new(scheme: Scheme, authority: Authority, path: &str) -> Result<Url, String> {
        Ok(Url {
            scheme,
            authority,
            path: origin_path(path)?,
        })
    }

    /// The Host header value (RFC 9110 §7.2): the port only when not the default.
    pub fn host_header(&self) -> String {
        match self.authority.port() {
            Some(p) if p != self.scheme.default_port() => {
                format!("{}:{}", self.authority.host(), p)
            }
            _ => self.authority.host().to_string(),
        }
    }

    pub fn port(&self) -> u16 {
        self.authority.port_or(self.scheme)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_header(),
            self.path
        )
    }
}

/// Normalizes what follows the authority into an origin-form target:
/// drops a fragment (never sent on the wire), adds the leading `/`.
fn origin_path(rest: &str) -> Result<String, String> {
    let rest = rest.split('#').next().unwrap_or("");
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("control or non-ASCII byte in request target".into());
    }
    Ok(match rest.as_bytes().first() {
        None => "/".to_string(),
        Some(b'/') => rest.to_string(),
        Some(_) => format!("/{rest}"),
    })
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_urls() {
        let u = Url::parse("HTTPS://Example.COM:8443/a/b?c=d#frag").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.authority.host(), "example.com");
        assert_eq!(u.port(), 8443);
        assert_eq!(u.path, "/a/b?c=d");
        assert_eq!(u.to_string(), "https://example.com:8443/a/b?c=d");
        let u = Url::parse("http://h?x").unwrap();
        assert_eq!(u.path, "/?x");
        assert_eq!(u.to_string(), "http://h/?x");
        let u = Url::parse("http://h:80/").unwrap();
        assert_eq!(u.host_header(), "h");
        let u = Url::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(u.authority.host_unbracketed(), "::1");
        assert_eq!(u.to_string(), "http://[::1]:8080/x");
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "ftp://h/",
            "http:///x",
            "http://user@h/",
            "http://h:0/",
            "http://h:99999/",
            "http://h:/",
            "http://h h/",
            "http://[zz]/",
            "http://a..b/",
            "http://h/\x01",
            "/path",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn authority_forms() {
        let a = Authority::parse("Host.example:443").unwrap();
        assert_eq!((a.host(), a.port()), ("host.example", Some(443)));
        assert_eq!(Authority::parse("h").unwrap().port(), None);
        assert!(Authority::parse("").is_err());
        assert!(Authority::parse("[::1]x").is_err());
        assert!(Authority::from_host(&"a".repeat(300), None).is_err());
    }
}
