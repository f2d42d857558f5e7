//! An origin server for the tests, plain or HTTPS, HTTP/1.1 keep-alive:
//!   GET /pattern/N   N bytes of `pattern_byte`, Content-Length
//!   GET /chunked/N   the same, chunked in pieces of varying size
//!   GET /close/N     the same, no length: ends when the server closes
//!   POST|PUT /sha    answers "<length> <sha256 hex>" of the request body
//!   anything else    404 with a body
//! Every request's head is kept so tests can check what the proxy sent.

use netvm_proxy::http::BodyDecoder;
use rustls::{ServerConnection, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Origin {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl Origin {
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Origin {
        Self::start_on("127.0.0.1:0", tls)
    }

    pub fn start_on(bind: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Origin {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let tls = tls.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let stream: Box<dyn Stream> = match tls {
                        Some(cfg) => {
                            Box::new(StreamOwned::new(ServerConnection::new(cfg).unwrap(), tcp))
                        }
                        None => Box::new(tcp),
                    };
                    let _ = serve(stream, &seen);
                });
            }
        });
        Origin { addr, heads }
    }
}

fn serve(stream: Box<dyn Stream>, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        seen.lock().unwrap().push(head.clone());
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, path) = (
            first.next().unwrap_or("").to_string(),
            first.next().unwrap_or("").to_string(),
        );
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut body = Vec::new();
        let mut decoder = if header("transfer-encoding").is_some() {
            BodyDecoder::chunked()
        } else {
            BodyDecoder::length(
                header("content-length")
                    .map(|v| v.parse().unwrap())
                    .unwrap_or(0),
            )
        };
        while !decoder.is_done() {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let step = decoder
                .advance(buf)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let data = buf[step.framing..step.framing + step.data].to_vec();
            reader.consume(step.framing + step.data);
            decoder.consume_data(data.len());
            body.extend_from_slice(&data);
        }
        let out = reader.get_mut();
        let n = |p: &str| p.parse::<usize>().unwrap_or(0);
        if let Some(len) = path.strip_prefix("/pattern/") {
            let data = super::pattern(n(len));
            write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n", data.len())?;
            out.write_all(&data)?;
        } else if let Some(len) = path.strip_prefix("/chunked/") {
            let data = super::pattern(n(len));
            write!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let mut off = 0;
            let mut size = 1;
            while off < data.len() {
                let take = size.min(data.len() - off);
                write!(out, "{take:x}\r\n")?;
                out.write_all(&data[off..off + take])?;
                out.write_all(b"\r\n")?;
                off += take;
                size = size * 7 % 100_003 + 1;
            }
            out.write_all(b"0\r\n\r\n")?;
        } else if let Some(len) = path.strip_prefix("/close/") {
            write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            out.write_all(&super::pattern(n(len)))?;
            out.flush()?;
            return Ok(());
        } else if (method == "POST" || method == "PUT") && path == "/sha" {
            let text = format!("{} {}", body.len(), super::sha256_hex(&body));
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )?;
        } else {
            let text = format!("nothing at {path}\n");
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )?;
        }
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}

/// Drops a TCP stream type into the trait object the server uses.
pub fn plain(stream: TcpStream) -> impl Read + Write {
    stream
}
