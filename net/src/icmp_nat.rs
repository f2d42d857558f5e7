//! ICMP echo NAT: a guest's pings to the outside (and to the host alias)
//! leave through a host echo socket per guest echo identifier; replies get
//! the guest's identifier back. Mappings expire after a quiet minute.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};

use crate::upstream::{IcmpPeer, Upstream};

/// Mappings per network; the oldest is dropped beyond this.
const MAX_FLOWS: usize = 32;
const IDLE: Duration = Duration::from_secs(60);

struct Flow {
    peer: Box<dyn IcmpPeer>,
    last_active: Instant,
}

/// An echo reply for the guest.
pub struct EchoReply {
    pub guest: Ipv4Addr,
    pub ident: u16,
    pub from: Ipv4Addr,
    pub seq_no: u16,
    pub data: Vec<u8>,
}

#[derive(Default)]
pub struct IcmpNat {
    flows: HashMap<(Ipv4Addr, u16), Flow>,
    /// The upstream said no once; do not ask again for every ping.
    unavailable: bool,
}

impl IcmpNat {
    pub fn new() -> IcmpNat {
        IcmpNat::default()
    }

    /// Forwards an echo request; an error means it could not leave the host.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        guest: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
        dst: Ipv4Addr,
        upstream: &mut dyn Upstream,
        now: Instant,
    ) -> io::Result<()> {
        if self.unavailable {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let key = (guest, ident);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= MAX_FLOWS {
                if let Some(oldest) = self.flows.iter().min_by_key(|(_, f)| f.last_active).map(|(k, _)| *k) {
                    self.flows.remove(&oldest);
                }
            }
            let peer = upstream.open_icmp().inspect_err(|e| {
                log::info!("icmp: no echo socket on this host ({e}); pings to the outside are dropped");
                self.unavailable = true;
            })?;
            self.flows.insert(key, Flow { peer, last_active: now });
        }
        let flow = self.flows.get_mut(&key).expect("inserted above");
        flow.last_active = now;
        flow.peer.send_echo(dst, seq_no, data)
    }

    /// Replies that arrived, and expiry of idle mappings.
    pub fn poll(&mut self, now: Instant) -> Vec<EchoReply> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        for (&(guest, ident), flow) in self.flows.iter_mut() {
            // Bounded per poll; echo replies are small and rare.
            for _ in 0..64 {
                match flow.peer.recv_echo(&mut buf) {
                    Ok((from, seq_no, n)) => {
                        out.push(EchoReply { guest, ident, from, seq_no, data: buf[..n].to_vec() });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::debug!("icmp {guest}/{ident}: {e}");
                        break;
                    }
                }
            }
        }
        self.flows.retain(|_, f| now < f.last_active + IDLE);
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.flows.values().map(|f| f.last_active + IDLE).min()
    }
}
