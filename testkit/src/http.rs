//! A small HTTP/1.1 server on a loopback socket for tests: serves fixed
//! bodies by path, generated bodies of any length, and counts uploads.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

/// A running test server; it stops accepting when dropped (the thread exits
/// on the next connection attempt or with the process).
pub struct HttpServer {
    pub addr: SocketAddr,
}

/// A generated body of `len` bytes whose content is a cheap function of the
/// offset, so the peer can verify it without storing it.
pub fn pattern_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(2654435761) >> 13) as u8
}

impl HttpServer {
    /// Serves `routes` (path → body) on `bind` (e.g. "127.0.0.1:0").
    /// `GET /pattern/<len>` serves `len` bytes of [`pattern_byte`];
    /// `POST /count` answers with the number of body bytes received.
    pub fn start(bind: &str, routes: HashMap<String, Vec<u8>>) -> HttpServer {
        let listener = TcpListener::bind(bind).expect("bind test HTTP server");
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, &routes) {
                        log::debug!("test http server: {e}");
                    }
                });
            }
        });
        HttpServer { addr }
    }
}

fn serve(conn: TcpStream, routes: &HashMap<String, Vec<u8>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut content_length = 0u64;
        let mut close = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    content_length = v.parse().unwrap_or(0);
                } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        // Proxies send absolute URLs; keep only the path.
        let path = match target.find("://") {
            Some(i) => target[i + 3..].find('/').map(|j| target[i + 3 + j..].to_string()).unwrap_or("/".into()),
            None => target.clone(),
        };
        if method == "POST" && path == "/count" {
            let mut remaining = content_length;
            let mut sum: u64 = 0;
            let mut buf = vec![0u8; 65536];
            while remaining > 0 {
                let n = reader.read(&mut buf[..remaining.min(65536) as usize])?;
                if n == 0 {
                    return Ok(());
                }
                sum = buf[..n].iter().fold(sum, |acc, &b| acc.wrapping_mul(31).wrapping_add(b as u64));
                remaining -= n as u64;
            }
            let body = format!("{content_length} {sum}\n");
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
        } else if let Some(len) = path.strip_prefix("/pattern/").and_then(|l| l.parse::<u64>().ok()) {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n")?;
            let mut chunk = vec![0u8; 65536];
            let mut off = 0u64;
            while off < len {
                let n = (len - off).min(chunk.len() as u64) as usize;
                for (i, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern_byte(off + i as u64);
                }
                out.write_all(&chunk[..n])?;
                off += n as u64;
            }
        } else if let Some(body) = routes.get(&path) {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len())?;
            out.write_all(body)?;
        } else {
            let body = format!("no route for {path}\n");
            write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
        }
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}
