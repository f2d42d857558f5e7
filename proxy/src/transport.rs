//! The bytes under HTTP on one guest connection: plain, or TLS terminated
//! here with rustls. Moves guest bytes to plaintext and back, within the
//! room of the queues on either side (that is the backpressure).

use crate::buffer::ByteQueue;
use crate::ca::CertificateAuthority;
use crate::http::Authority;
use crate::legacy_tls::{self, LegacyTls};
use rustls::server::{Acceptor, ServerConnection};
use std::fmt;
use std::io::{Read, Write};

/// TLS record content type `handshake` (RFC 8446 §5.1): the first byte of
/// every ClientHello. No HTTP method starts with it.
const TLS_HANDSHAKE: u8 = 0x16;

/// What the first byte of a connection (or of a CONNECT tunnel) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Tls,
    Http,
    Unknown,
}

pub fn sniff(first: u8) -> Sniffed {
    match first {
        TLS_HANDSHAKE => Sniffed::Tls,
        // RFC 9110 §9.1: methods are tokens; every registered one is upper-case letters.
        b'A'..=b'Z' | b'a'..=b'z' | b'\r' | b'\n' => Sniffed::Http,
        _ => Sniffed::Unknown,
    }
}

#[derive(Debug)]
pub struct TransportError(pub String);

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where certificates for a TLS connection come from.
pub struct Certs<'a> {
    pub ca: &'a CertificateAuthority,
    /// The name when the ClientHello has no SNI (clients omit it for IP
    /// literals, RFC 6066 §3): the CONNECT host or the DNS-pool name.
    pub fallback: Option<String>,
}

impl Certs<'_> {
    fn name_for(&self, sni: Option<&str>) -> Result<String, String> {
        match sni {
            Some(n) => Ok(Authority::from_host(n, None)
                .map_err(|e| format!("bad SNI name: {e}"))?
                .host()
                .to_string()),
            None => self
                .fallback
                .clone()
                .ok_or_else(|| "no SNI and no known host name for this connection".into()),
        }
    }
}

pub enum Transport {
    Plain,
    /// Waiting for a complete ClientHello. `decided`: the first record was
    /// seen and left to rustls.
    TlsAccepting {
        acceptor: Box<Acceptor>,
        decided: bool,
    },
    Tls {
        conn: Box<ServerConnection>,
        sni: Option<String>,
    },
    /// A client rustls cannot serve (see `legacy_tls`).
    Legacy(Box<LegacyTls>),
}

impl Transport {
    pub fn tls() -> Transport {
        Transport::TlsAccepting {
            acceptor: Box::default(),
            decided: false,
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Transport::Plain)
    }

    /// The SNI name once the ClientHello has been read.
    pub fn sni(&self) -> Option<&str> {
        match self {
            Transport::Tls { sni, .. } => sni.as_deref(),
            Transport::Legacy(l) => l.sni(),
            _ => None,
        }
    }

    pub fn handshake_done(&self) -> bool {
        match self {
            Transport::Plain => true,
            Transport::TlsAccepting { .. } => false,
            Transport::Tls { conn, .. } => !conn.is_handshaking(),
            Transport::Legacy(l) => l.handshake_done(),
        }
    }

    /// Moves guest bytes from `raw_in` to `plain_in`. Returns whether
    /// anything moved. Handshake replies go to `raw_out`.
    pub fn read(
        &mut self,
        raw_in: &mut ByteQueue,
        plain_in: &mut ByteQueue,
        raw_out: &mut ByteQueue,
        certs: &Certs<'_>,
    ) -> Result<bool, TransportError> {
        match self {
            Transport::Plain => {
                let n = plain_in.push(raw_in.as_slice());
                raw_in.consume(n);
                Ok(n > 0)
            }
            Transport::TlsAccepting { acceptor, decided } => {
                if !*decided {
                    match legacy_tls::detect(raw_in.as_slice()) {
                        legacy_tls::Detected::NeedMore => return Ok(false),
                        legacy_tls::Detected::Rustls => *decided = true,
                        legacy_tls::Detected::Legacy(hello) => {
                            let name = certs
                                .name_for(hello.sni.as_deref())
                                .map_err(TransportError)?;
                            let cert = certs
                                .ca
                                .leaf_certificate(&name)
                                .map_err(|e| TransportError(e.to_string()))?;
                            log::debug!(
                                "legacy TLS 1.2 client (no signature_algorithms) for {name}"
                            );
                            let key = certs.ca.leaf_key_pkcs8();
                            let legacy = LegacyTls::accept(hello, raw_in, raw_out, &cert, &key)
                                .map_err(TransportError)?;
                            *self = Transport::Legacy(Box::new(legacy));
                            self.read(raw_in, plain_in, raw_out, certs)?;
                            return Ok(true);
                        }
                    }
                }
                let before = raw_in.len();
                while !raw_in.is_empty() {
                    let mut rd = raw_in.as_slice();
                    let n = acceptor
                        .read_tls(&mut rd)
                        .map_err(|e| TransportError(format!("TLS: {e}")))?;
                    raw_in.consume(n);
                    if n == 0 {
                        break;
                    }
                }
                let progressed = raw_in.len() != before;
                let accepted = match acceptor.accept() {
                    Ok(None) => return Ok(progressed),
                    Ok(Some(a)) => a,
                    Err((e, mut alert)) => {
                        let _ = alert.write(raw_out);
                        return Err(TransportError(format!("bad TLS ClientHello: {e}")));
                    }
                };
                let sni = accepted.client_hello().server_name().map(str::to_string);
                let name = certs.name_for(sni.as_deref()).map_err(TransportError)?;
                let config = certs
                    .ca
                    .server_config(&name)
                    .map_err(|e| TransportError(e.to_string()))?;
                let conn = accepted.into_connection(config).map_err(|(e, mut alert)| {
                    let _ = alert.write(raw_out);
                    TransportError(format!("TLS handshake failed: {e}"))
                })?;
                *self = Transport::Tls {
                    conn: Box::new(conn),
                    sni,
                };
                // The ClientHello may have come with more records.
                self.read(raw_in, plain_in, raw_out, certs)?;
                Ok(true)
            }
            Transport::Tls { conn, .. } => {
                let mut progressed = false;
                loop {
                    progressed |= drain_plaintext(conn, plain_in)?;
                    // wants_read is false while plaintext is pending or our
                    // handshake messages are unsent: backpressure both ways.
                    if raw_in.is_empty() || !conn.wants_read() {
                        break;
                    }
                    let mut rd = raw_in.as_slice();
                    let n = conn
                        .read_tls(&mut rd)
                        .map_err(|e| TransportError(format!("TLS: {e}")))?;
                    raw_in.consume(n);
                    if n == 0 {
                        break;
                    }
                    progressed = true;
                    if let Err(e) = conn.process_new_packets() {
                        // Send the alert rustls queued before giving up.
                        let _ = conn.write_tls(raw_out);
                        return Err(TransportError(format!("TLS: {e}")));
                    }
                    flush_tls(conn, raw_out);
                }
                Ok(progressed)
            }
            Transport::Legacy(l) => l
                .read(raw_in, plain_in, raw_out)
                .map_err(|e| TransportError(format!("TLS: {e}"))),
        }
    }

    /// Moves response bytes from `plain_out` to `raw_out`, encrypting when
    /// TLS. Returns whether anything moved.
    pub fn write(&mut self, plain_out: &mut ByteQueue, raw_out: &mut ByteQueue) -> bool {
        match self {
            Transport::Plain => {
                let n = raw_out.push(plain_out.as_slice());
                plain_out.consume(n);
                n > 0
            }
            Transport::TlsAccepting { .. } => false,
            Transport::Legacy(l) => l.write(plain_out, raw_out),
            Transport::Tls { conn, .. } => {
                let mut progressed = flush_tls(conn, raw_out);
                // Hand rustls only what fits in raw_out once encrypted
                // (records add a small overhead, absorbed by raw_out's slack).
                while !plain_out.is_empty() && raw_out.room() > 0 && !conn.wants_write() {
                    let take = plain_out.len().min(raw_out.room()).min(16 * 1024);
                    let n = conn
                        .writer()
                        .write(&plain_out.as_slice()[..take])
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    plain_out.consume(n);
                    progressed = true;
                    flush_tls(conn, raw_out);
                }
                progressed
            }
        }
    }

    /// Whether encrypted bytes are still waiting inside rustls.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Transport::Tls { conn, .. } => conn.wants_write(),
            _ => false,
        }
    }

    /// Starts a clean close: a TLS close_notify alert (RFC 8446 §6.1).
    pub fn close(&mut self, raw_out: &mut ByteQueue) {
        match self {
            Transport::Tls { conn, .. } => {
                conn.send_close_notify();
                flush_tls(conn, raw_out);
            }
            Transport::Legacy(l) => l.close(raw_out),
            _ => {}
        }
    }
}

/// Decrypted bytes from rustls into `plain_in`, as many as fit.
/// `Ok(true)` if any moved. The guest's close_notify shows up as the
/// reader's end of stream, which the caller sees through `peer_closed`.
fn drain_plaintext(
    conn: &mut ServerConnection,
    plain_in: &mut ByteQueue,
) -> Result<bool, TransportError> {
    let mut moved = false;
    let mut buf = [0u8; 4096];
    while plain_in.room() > 0 {
        let want = plain_in.room().min(buf.len());
        match conn.reader().read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                plain_in.push(&buf[..n]);
                moved = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(TransportError(format!("TLS: {e}"))),
        }
    }
    Ok(moved)
}

/// Encrypted bytes from rustls into `raw_out`, as many as fit.
fn flush_tls(conn: &mut ServerConnection, raw_out: &mut ByteQueue) -> bool {
    let mut moved = false;
    while conn.wants_write() && raw_out.room() > 0 {
        match conn.write_tls(raw_out) {
            Ok(n) if n > 0 => moved = true,
            _ => break,
        }
    }
    moved
}

impl Transport {
    /// The guest sent close_notify and every plaintext byte before it was
    /// taken: no more request bytes will come.
    pub fn peer_closed(&mut self) -> bool {
        match self {
            Transport::Tls { conn, .. } => conn
                .process_new_packets()
                .is_ok_and(|s| s.peer_has_closed() && s.plaintext_bytes_to_read() == 0),
            Transport::Legacy(l) => l.peer_closed(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_first_byte() {
        assert_eq!(sniff(0x16), Sniffed::Tls);
        assert_eq!(sniff(b'G'), Sniffed::Http);
        assert_eq!(sniff(b'c'), Sniffed::Http);
        assert_eq!(sniff(0x80), Sniffed::Unknown);
        assert_eq!(sniff(0), Sniffed::Unknown);
    }
}
