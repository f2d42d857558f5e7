//! UDP NAT: one host socket per guest endpoint (endpoint-independent
//! mapping, RFC 4787 §4.1), expired after a quiet period (RFC 4787 §4.3
//! REQ-5 asks for at least two minutes; we keep the same).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;

use smoltcp::time::{Duration, Instant};

use crate::upstream::{UdpPeer, Upstream};

#[derive(Debug, Clone)]
pub struct UdpLimits {
    pub max_flows: usize,
    pub idle_timeout: Duration,
    /// Datagrams taken from one peer per poll, so one busy flow cannot
    /// starve the rest; a flow that hits it is polled again at once.
    pub burst: usize,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits { max_flows: 128, idle_timeout: Duration::from_secs(120), burst: 64 }
    }
}

struct Flow {
    peer: Box<dyn UdpPeer>,
    last_active: Instant,
}

pub struct UdpNat {
    flows: HashMap<SocketAddrV4, Flow>,
    limits: UdpLimits,
    /// A peer may still hold datagrams (its burst ran out): with
    /// edge-triggered readiness no new event would come for them.
    backlog: bool,
}

impl UdpNat {
    pub fn new(limits: UdpLimits) -> UdpNat {
        UdpNat { flows: HashMap::new(), limits, backlog: false }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Sends a guest datagram from `guest` to the host address `dst`.
    pub fn send(
        &mut self,
        guest: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
        upstream: &mut dyn Upstream,
        now: Instant,
    ) -> io::Result<()> {
        if !self.flows.contains_key(&guest) {
            if self.flows.len() >= self.limits.max_flows {
                self.expire(now);
                if self.flows.len() >= self.limits.max_flows {
                    return Err(io::Error::other("too many UDP flows"));
                }
            }
            let peer = upstream.bind_udp()?;
            self.flows.insert(guest, Flow { peer, last_active: now });
        }
        let flow = self.flows.get_mut(&guest).expect("inserted above");
        flow.last_active = now;
        flow.peer.send_to(payload, dst)
    }

    /// Collects datagrams from peers: `(guest, from, payload)`, and drops
    /// idle flows.
    pub fn poll(&mut self, now: Instant, mut deliver: impl FnMut(SocketAddrV4, SocketAddrV4, &[u8])) {
        let mut buf = vec![0u8; 65536];
        self.backlog = false;
        for (guest, flow) in self.flows.iter_mut() {
            for i in 0..=self.limits.burst {
                if i == self.limits.burst {
                    self.backlog = true;
                    break;
                }
                match flow.peer.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        flow.last_active = now;
                        deliver(*guest, from, &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::debug!("udp {guest}: receive failed: {e}");
                        break;
                    }
                }
            }
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        let idle = self.limits.idle_timeout;
        self.flows.retain(|guest, f| {
            let keep = now < f.last_active + idle;
            if !keep {
                log::debug!("udp {guest}: idle, closed");
            }
            keep
        });
    }

    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.backlog {
            return Some(now);
        }
        self.flows.values().map(|f| f.last_active + self.limits.idle_timeout).min()
    }
}
