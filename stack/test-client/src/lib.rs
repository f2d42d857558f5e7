//! A scripted guest for testing netvm-stack in a real browser: what a VM
//! would do on its NIC, in a page. It speaks Ethernet frames in QEMU stream
//! framing (the page carries them over the intercepted WebSocket), gets an
//! address by DHCP (smoltcp's client), and makes TCP connections through
//! the stack: plain HTTP, CONNECT tunnels and TLS inside them (rustls,
//! trusting the proxy's CA as the guest's `proxy.crt`).
//!
//! Sans-IO: the page feeds received bytes (`receive`), calls `poll` with
//! the time and sends what it returns. Each exchange returns the raw
//! response bytes; the page checks them.
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

mod dns;
mod exchange;

use std::sync::Arc;

use netvm_net::device::QueueDevice;
use netvm_net::framing::{encode_frame, FrameDecoder};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use wasm_bindgen::prelude::*;

use exchange::{Exchange, Plan};

#[wasm_bindgen]
pub struct Guest {
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
    decoder: FrameDecoder,
    dhcp: SocketHandle,
    address: Option<Ipv4Cidr>,
    router: Option<Ipv4Address>,
    roots: Option<Arc<RootCertStore>>,
    exchanges: Vec<Exchange>,
    next_port: u16,
    lookup: Option<dns::Lookup>,
    lookups: u16,
}

#[wasm_bindgen]
impl Guest {
    /// A guest with MAC `mac` ("02:00:00:00:00:01") and no address yet.
    #[wasm_bindgen(constructor)]
    pub fn new(mac: &str) -> Result<Guest, JsError> {
        let mac = EthernetAddress::from_bytes(&parse_mac(mac).ok_or_else(|| JsError::new("bad MAC"))?);
        let mut dev = QueueDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ethernet(mac));
        cfg.random_seed = (js_sys::Math::random() * 1e15) as u64;
        let iface = Interface::new(cfg, &mut dev, Instant::from_millis(0));
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = sockets.add(dhcpv4::Socket::new());
        Ok(Guest {
            iface,
            dev,
            sockets,
            decoder: FrameDecoder::default(),
            dhcp,
            address: None,
            router: None,
            roots: None,
            exchanges: Vec::new(),
            next_port: 40000,
            lookup: None,
            lookups: 0,
        })
    }

    /// Stream bytes from the network.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.dev.rx.push_back(frame),
                Ok(None) => return Ok(()),
                Err(e) => return Err(JsError::new(&format!("from the stack: {e}"))),
            }
        }
    }

    /// Runs the guest at `now_ms`; returns framed bytes to send (maybe none).
    pub fn poll(&mut self, now_ms: f64) -> Vec<u8> {
        let now = Instant::from_micros((now_ms * 1000.0) as i64);
        for _ in 0..4 {
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            self.poll_dhcp();
            for ex in &mut self.exchanges {
                ex.step(&mut self.sockets);
            }
            if let (Some(lookup), Some(server)) = (&mut self.lookup, self.router) {
                lookup.step(&mut self.sockets, server);
            }
        }
        let mut out = Vec::new();
        while let Some(frame) = self.dev.tx.pop_front() {
            encode_frame(&frame, &mut out);
        }
        out
    }

    /// The DHCP address as "a.b.c.d/len", once configured.
    pub fn address(&self) -> Option<String> {
        self.address.map(|a| a.to_string())
    }

    pub fn router(&self) -> Option<String> {
        self.router.map(|r| r.to_string())
    }

    /// Trusts the CA certificate(s) in `pem` for TLS exchanges.
    #[wasm_bindgen(js_name = trustPem)]
    pub fn trust_pem(&mut self, pem: &str) -> Result<(), JsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| JsError::new(&format!("CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| JsError::new(&format!("CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(JsError::new("no certificate in the CA PEM"));
        }
        self.roots = Some(Arc::new(roots));
        Ok(())
    }

    /// Starts an exchange over a new TCP connection to `ip:port`: when
    /// `tunnel` is set, `CONNECT tunnel` first (its 200 head is kept out of
    /// the result); when `tls_name` is set, TLS to that name (trusting
    /// `trustPem`); then `request`, and everything received until the
    /// other side closes. Returns the exchange's number.
    pub fn exchange(
        &mut self,
        ip: &str,
        port: u16,
        tunnel: Option<String>,
        tls_name: Option<String>,
        request: &[u8],
    ) -> Result<usize, JsError> {
        let ip: Ipv4Address = ip.parse().map_err(|_| JsError::new("bad IPv4 address"))?;
        let tls = match tls_name {
            Some(name) => {
                let roots = self.roots.clone().ok_or_else(|| JsError::new("trustPem first"))?;
                Some((name, roots))
            }
            None => None,
        };
        let local_port = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(40000);
        let plan = Plan {
            tunnel,
            tls,
            request: request.to_vec(),
        };
        let ex = Exchange::open(&mut self.iface, &mut self.sockets, (ip, port), local_port, plan)
            .map_err(|e| JsError::new(&e))?;
        self.exchanges.push(ex);
        Ok(self.exchanges.len() - 1)
    }

    /// Asks the DHCP-given DNS server (the gateway) for `name`'s A record;
    /// the answer comes from `lookupResult`.
    pub fn lookup(&mut self, name: &str) -> Result<(), JsError> {
        if let Some(old) = self.lookup.take() {
            if old.answer.is_none() {
                return Err(JsError::new("one lookup at a time"));
            }
        }
        self.lookups = self.lookups.wrapping_add(1);
        self.lookup =
            Some(dns::Lookup::start(&mut self.sockets, name, 0x4e00 | self.lookups).map_err(|e| JsError::new(&e))?);
        Ok(())
    }

    /// `undefined` while the lookup runs, then `{ address }` or `{ error }`.
    #[wasm_bindgen(js_name = lookupResult)]
    pub fn lookup_result(&self) -> JsValue {
        let Some(answer) = self.lookup.as_ref().and_then(|l| l.answer.as_ref()) else {
            return JsValue::UNDEFINED;
        };
        let out = js_sys::Object::new();
        let (key, value) = match answer {
            Ok(ip) => ("address", ip.to_string()),
            Err(e) => ("error", e.clone()),
        };
        let _ = js_sys::Reflect::set(&out, &JsValue::from_str(key), &JsValue::from_str(&value));
        out.into()
    }

    /// `undefined` while exchange `id` runs; then `{ bytes, error, tunnelHead }`:
    /// the bytes received (after the tunnel's head, decrypted for TLS),
    /// and why it ended abnormally (`null` for a clean close).
    pub fn result(&self, id: usize) -> JsValue {
        match self.exchanges.get(id) {
            Some(ex) => ex.result(),
            None => JsValue::UNDEFINED,
        }
    }
}

impl Guest {
    fn poll_dhcp(&mut self) {
        let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll();
        match event {
            Some(dhcpv4::Event::Configured(config)) => {
                self.iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(IpCidr::Ipv4(config.address));
                });
                if let Some(router) = config.router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                }
                self.address = Some(config.address);
                self.router = config.router;
            }
            Some(dhcpv4::Event::Deconfigured) => {
                self.iface.update_ip_addrs(|addrs| addrs.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.address = None;
            }
            None => {}
        }
    }
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut bytes = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut bytes {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(bytes)
}
