//! One scripted TCP exchange of the test guest: optional CONNECT, optional
//! TLS, one request, the response until the other side closes.

use std::io::{self, Read, Write};
use std::sync::Arc;

use js_sys::{Object, Reflect, Uint8Array};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::ServerName;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::Ipv4Address;
use wasm_bindgen::JsValue;

pub struct Plan {
    /// `CONNECT` target ("host:port") sent first.
    pub tunnel: Option<String>,
    /// TLS server name and the roots to trust.
    pub tls: Option<(String, Arc<RootCertStore>)>,
    pub request: Vec<u8>,
}

enum Stage {
    Connecting,
    /// CONNECT sent; collecting its answer's head.
    Tunnel,
    /// Request sent (or queued in TLS); collecting the response.
    Response,
    Done,
}

pub struct Exchange {
    handle: SocketHandle,
    plan: Plan,
    stage: Stage,
    tls: Option<ClientConnection>,
    /// Plain bytes still to write to the socket.
    outgoing: Vec<u8>,
    tunnel_head: Vec<u8>,
    received: Vec<u8>,
    error: Option<String>,
}

/// The socket as a byte sink for rustls: takes what fits.
struct SocketIo<'a>(&'a mut tcp::Socket<'static>);

impl Write for SocketIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.send_slice(buf) {
            Ok(0) => Err(io::ErrorKind::WouldBlock.into()),
            Ok(n) => Ok(n),
            Err(e) => Err(io::Error::other(format!("{e}"))),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Exchange {
    pub fn open(
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
        dst: (Ipv4Address, u16),
        local_port: u16,
        plan: Plan,
    ) -> Result<Exchange, String> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        socket
            .connect(iface.context(), dst, local_port)
            .map_err(|e| format!("connect: {e}"))?;
        let handle = sockets.add(socket);
        Ok(Exchange {
            handle,
            plan,
            stage: Stage::Connecting,
            tls: None,
            outgoing: Vec::new(),
            tunnel_head: Vec::new(),
            received: Vec::new(),
            error: None,
        })
    }

    fn fail(&mut self, why: String) {
        self.error = Some(why);
        self.stage = Stage::Done;
    }

    /// Starts the request: plain bytes out, or a TLS session holding it.
    fn start_request(&mut self) {
        match self.plan.tls.clone() {
            Some((name, roots)) => {
                let config = ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let server = match ServerName::try_from(name.clone()) {
                    Ok(s) => s,
                    Err(e) => return self.fail(format!("TLS name {name}: {e}")),
                };
                match ClientConnection::new(Arc::new(config), server) {
                    Ok(mut tls) => {
                        let _ = tls.writer().write_all(&self.plan.request);
                        self.tls = Some(tls);
                    }
                    Err(e) => return self.fail(format!("TLS: {e}")),
                }
            }
            None => self.outgoing.extend_from_slice(&self.plan.request),
        }
        self.stage = Stage::Response;
    }

    pub fn step(&mut self, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        match self.stage {
            Stage::Done => return,
            Stage::Connecting => {
                if socket.state() == tcp::State::Closed {
                    return self.fail("connection refused (RST)".into());
                }
                if !socket.may_send() {
                    return;
                }
                match self.plan.tunnel.clone() {
                    Some(target) => {
                        self.outgoing.extend_from_slice(
                            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes(),
                        );
                        self.stage = Stage::Tunnel;
                    }
                    None => self.start_request(),
                }
            }
            _ => {}
        }
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        // Out: plain bytes first, then what TLS has.
        while !self.outgoing.is_empty() && socket.can_send() {
            match socket.send_slice(&self.outgoing) {
                Ok(n) if n > 0 => {
                    self.outgoing.drain(..n);
                }
                _ => break,
            }
        }
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                match tls.write_tls(&mut SocketIo(&mut *socket)) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        // In.
        let mut buf = vec![0u8; 16384];
        while socket.can_recv() {
            let n = match socket.recv_slice(&mut buf) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let data = buf[..n].to_vec();
            if let Err(e) = self.take(&data) {
                socket.abort();
                return self.fail(e);
            }
            if matches!(self.stage, Stage::Done) {
                return;
            }
        }
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        if let (Stage::Response, Some(tls)) = (&self.stage, &mut self.tls) {
            // Flush what processing the input produced (handshake, alerts).
            while tls.wants_write() {
                match tls.write_tls(&mut SocketIo(&mut *socket)) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        if !socket.may_recv() && !socket.can_recv() && !matches!(self.stage, Stage::Connecting) {
            // The other side closed (FIN) or reset.
            let reset = socket.state() == tcp::State::Closed;
            if matches!(self.stage, Stage::Tunnel) {
                return self.fail(format!(
                    "closed during CONNECT; got {:?}",
                    String::from_utf8_lossy(&self.tunnel_head)
                ));
            }
            socket.close();
            if reset && self.received.is_empty() {
                return self.fail("connection reset".into());
            }
            self.stage = Stage::Done;
        }
    }

    /// Bytes from the socket.
    fn take(&mut self, data: &[u8]) -> Result<(), String> {
        match self.stage {
            Stage::Tunnel => {
                self.tunnel_head.extend_from_slice(data);
                let Some(end) = self.tunnel_head.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(());
                };
                let rest = self.tunnel_head.split_off(end + 4);
                if !self.tunnel_head.starts_with(b"HTTP/1.1 200") {
                    self.received = std::mem::take(&mut self.tunnel_head);
                    self.received.extend_from_slice(&rest);
                    return Err(format!("CONNECT refused: {}", String::from_utf8_lossy(&self.received)));
                }
                self.start_request();
                if !rest.is_empty() {
                    self.take(&rest)?;
                }
                Ok(())
            }
            Stage::Response => match &mut self.tls {
                None => {
                    self.received.extend_from_slice(data);
                    Ok(())
                }
                Some(tls) => {
                    let mut input = data;
                    while !input.is_empty() {
                        tls.read_tls(&mut input).map_err(|e| format!("TLS read: {e}"))?;
                        tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
                        let mut plain = vec![0u8; 16384];
                        loop {
                            match tls.reader().read(&mut plain) {
                                Ok(0) => break,
                                Ok(n) => self.received.extend_from_slice(&plain[..n]),
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                                Err(e) => return Err(format!("TLS read: {e}")),
                            }
                        }
                    }
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    pub fn result(&self) -> JsValue {
        if !matches!(self.stage, Stage::Done) {
            return JsValue::UNDEFINED;
        }
        let out = Object::new();
        let _ = Reflect::set(
            &out,
            &JsValue::from_str("bytes"),
            &Uint8Array::from(self.received.as_slice()),
        );
        let error = self.error.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL);
        let _ = Reflect::set(&out, &JsValue::from_str("error"), &error);
        out.into()
    }
}
