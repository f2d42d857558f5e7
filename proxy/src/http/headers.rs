//! Header rules a proxy must apply (RFC 9110 §7.6.1): hop-by-hop fields
//! describe one connection and are not forwarded.

/// One header field as received. Values may hold obs-text bytes
/// (RFC 9110 §5.5), so they stay bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl Header {
    pub fn new(name: &str, value: impl Into<Vec<u8>>) -> Header {
        Header {
            name: name.to_string(),
            value: value.into(),
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// Fields that never cross a proxy (RFC 9110 §7.6.1, RFC 9112 §9.6, and
/// the legacy `Proxy-Connection` and `Keep-Alive` fields). The framing
/// fields are here too because the proxy re-frames every body itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Comma-separated tokens of every field named `name`, lowercased.
pub fn tokens<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .iter()
        .filter(move |h| h.is(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t).trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// Whether `header` is hop-by-hop, either by definition or because the
/// sender listed it in `Connection` (`connection_tokens`).
pub fn is_hop_by_hop(header: &Header, connection_tokens: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|n| header.is(n)) || connection_tokens.iter().any(|t| header.is(t))
}

/// The end-to-end fields of `headers`, without hop-by-hop ones and without
/// any name in `also_drop`.
pub fn end_to_end(headers: &[Header], also_drop: &[&str]) -> Vec<Header> {
    let listed: Vec<String> = tokens(headers, "connection")
        .chain(tokens(headers, "proxy-connection"))
        .collect();
    headers
        .iter()
        .filter(|h| !is_hop_by_hop(h, &listed) && !also_drop.iter().any(|n| h.is(n)))
        .cloned()
        .collect()
}

/// The single value of `name`, or `None` when absent; `Err` when repeated
/// with different values.
pub fn single<'a>(headers: &'a [Header], name: &str) -> Result<Option<&'a [u8]>, String> {
    let mut found: Option<&[u8]> = None;
    for h in headers.iter().filter(|h| h.is(name)) {
        match found {
            Some(v) if v != h.value.as_slice() => return Err(format!("conflicting {name} fields")),
            _ => found = Some(&h.value),
        }
    }
    Ok(found)
}

/// Parses a Content-Length value (RFC 9110 §8.6): digits only; a list of
/// identical values is accepted as the RFC allows.
pub fn parse_content_length(value: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(value).map_err(|_| "non-ASCII Content-Length".to_string())?;
    let mut result: Option<u64> = None;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "bad Content-Length {:?}",
                text.escape_debug().to_string()
            ));
        }
        let n: u64 = part
            .parse()
            .map_err(|_| format!("bad Content-Length {text:?}"))?;
        if result.is_some_and(|r| r != n) {
            return Err(format!("conflicting Content-Length {text:?}"));
        }
        result = Some(n);
    }
    result.ok_or_else(|| "empty Content-Length".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hop_by_hop_and_connection_listed_fields() {
        let hs = vec![
            Header::new("Host", "a"),
            Header::new("Connection", "keep-alive, X-Secret"),
            Header::new("x-secret", "1"),
            Header::new("Keep-Alive", "timeout=5"),
            Header::new("Transfer-Encoding", "chunked"),
            Header::new("Proxy-Authorization", "Basic x"),
            Header::new("Accept", "*/*"),
            Header::new("Content-Length", "3"),
        ];
        let kept = end_to_end(&hs, &["host", "content-length"]);
        assert_eq!(kept, vec![Header::new("Accept", "*/*")]);
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(parse_content_length(b"42"), Ok(42));
        assert_eq!(parse_content_length(b"7, 7"), Ok(7));
        assert!(parse_content_length(b"7, 8").is_err());
        assert!(parse_content_length(b"-1").is_err());
        assert!(parse_content_length(b"+1").is_err());
        assert!(parse_content_length(b"99999999999999999999").is_err());
        assert!(parse_content_length(b"").is_err());
        let hs = vec![Header::new("A", "1"), Header::new("a", "2")];
        assert!(single(&hs, "a").is_err());
    }
}
