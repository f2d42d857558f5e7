//! The guest side: an HTTP/1.1 client talking to the proxy over a real
//! socket, plain or through CONNECT with a real rustls client that trusts
//! only the proxy's CA (as the guest trusts `proxy.crt`).

use netvm_proxy::http::BodyDecoder;
use netvm_proxy::CertificateAuthority;
use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::CertificateDer;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Guest {
    conn: BufReader<Box<dyn Stream>>,
}

impl Guest {
    pub fn connect(proxy: SocketAddr) -> Guest {
        let tcp = TcpStream::connect(proxy).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        tcp.set_nodelay(true).unwrap();
        Guest {
            conn: BufReader::new(Box::new(tcp)),
        }
    }

    /// CONNECT `authority`, then TLS as `name` trusting only `ca`.
    pub fn connect_tls(
        proxy: SocketAddr,
        authority: &str,
        name: &str,
        ca: &CertificateAuthority,
    ) -> Guest {
        let mut tcp = TcpStream::connect(proxy).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            tcp,
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
        )
        .unwrap();
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n\r\n") {
            assert_eq!(
                tcp.read(&mut byte).unwrap(),
                1,
                "proxy closed during CONNECT"
            );
            reply.push(byte[0]);
        }
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        Guest {
            conn: BufReader::new(Box::new(tls_over(tcp, name, ca.ca_cert_der()))),
        }
    }

    /// TLS straight to the proxy's port (transparent mode).
    pub fn connect_tls_direct(proxy: SocketAddr, name: &str, ca: &CertificateAuthority) -> Guest {
        Self::connect_tls_trusting(proxy, name, ca.ca_cert_der())
    }

    /// TLS to `addr` trusting only `root` (a direct request, no proxy).
    pub fn connect_tls_trusting(
        addr: SocketAddr,
        name: &str,
        root: &CertificateDer<'static>,
    ) -> Guest {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Guest {
            conn: BufReader::new(Box::new(tls_over(tcp, name, root))),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let w = self.conn.get_mut();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    pub fn request(&mut self, head: &str, body: &[u8]) -> Response {
        self.send(head.as_bytes());
        if !body.is_empty() {
            self.send(body);
        }
        self.read_response(head.starts_with("HEAD "))
    }

    /// Reads one response; the body by its framing (RFC 9112 §6.3).
    pub fn read_response(&mut self, head_request: bool) -> Response {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(
                self.conn.read_line(&mut line).unwrap() > 0,
                "proxy closed before a full head: {head:?}"
            );
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let status: u16 = head[9..12].parse().unwrap();
        if status == 100 {
            return self.read_response(head_request);
        }
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let mut decoder = if head_request || status == 204 || status == 304 {
            BodyDecoder::Done
        } else if header("transfer-encoding").is_some() {
            BodyDecoder::chunked()
        } else if let Some(n) = header("content-length") {
            BodyDecoder::length(n.parse().unwrap())
        } else {
            BodyDecoder::UntilClose
        };
        let mut body = Vec::new();
        while !decoder.is_done() {
            let buf = match self.conn.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => &[],
                Err(e) => panic!("reading body: {e}"),
            };
            if buf.is_empty() {
                decoder.on_eof().expect("body complete at EOF");
                break;
            }
            let step = decoder.advance(buf).unwrap();
            let data = &buf[step.framing..step.framing + step.data];
            body.extend_from_slice(data);
            let used = step.framing + step.data;
            decoder.consume_data(step.data);
            self.conn.consume(used);
        }
        Response { status, head, body }
    }

    /// Whether the proxy closed the connection (EOF, or a reset).
    pub fn is_closed(&mut self) -> bool {
        !matches!(self.conn.fill_buf(), Ok(b) if !b.is_empty())
    }
}

fn tls_over(
    tcp: TcpStream,
    name: &str,
    root: &CertificateDer<'static>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    StreamOwned::new(ClientConnection::new(Arc::new(cfg), name).unwrap(), tcp)
}
