//! TCP flows between guest connections (smoltcp sockets) and their peers.
//!
//! A guest SYN to a new destination is held while the peer connects; only
//! then is a listening socket created for that destination and the SYN fed
//! to the interface, so the guest sees SYN-ACK exactly when the far side
//! accepted, and a RST (smoltcp's answer to a SYN nobody listens for) when it
//! refused or timed out. Port forwards run the other way: a client socket
//! from the gateway connects to the guest.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpListenEndpoint;

use crate::consts::GATEWAY_IP;
use crate::device::QueueDevice;
use crate::upstream::{ConnectState, TcpPeer};

/// Sizes and caps for TCP flows of one network.
#[derive(Debug, Clone)]
pub struct TcpLimits {
    /// Flows (connecting or open) per network; further SYNs get a RST.
    pub max_flows: usize,
    /// Per-flow buffer for guest→peer bytes (also the window the guest sees).
    pub rx_buffer: usize,
    /// Per-flow buffer for peer→guest bytes.
    pub tx_buffer: usize,
    /// A peer that has not connected after this long counts as unreachable.
    pub connect_timeout: Duration,
    /// Unacknowledged data older than this aborts the connection (smoltcp's
    /// user timeout, RFC 793 §3.8 "USER TIMEOUT").
    pub user_timeout: Duration,
    /// Idle time before a keep-alive probe to the guest.
    pub keep_alive: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_flows: 256,
            rx_buffer: 128 * 1024,
            tx_buffer: 256 * 1024,
            connect_timeout: Duration::from_secs(20),
            user_timeout: Duration::from_secs(120),
            keep_alive: Duration::from_secs(60),
        }
    }
}

/// A flow's addresses as the guest sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub guest: SocketAddrV4,
    pub remote: SocketAddrV4,
}

enum Stage {
    /// The peer is connecting; `syn` is the guest's frame, replayed later.
    Connecting { syn: Vec<u8>, deadline: Instant },
    Open(SocketHandle),
}

struct Flow {
    stage: Stage,
    peer: Box<dyn TcpPeer>,
    /// The guest's FIN has been passed on.
    guest_fin_forwarded: bool,
    /// The peer reached end of stream and our FIN is queued.
    peer_eof: bool,
}

/// What became of a connection attempt, for statistics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpStats {
    pub opened: u64,
    pub refused: u64,
    pub closed: u64,
}

pub struct TcpNat {
    flows: HashMap<FlowKey, Flow>,
    limits: TcpLimits,
    next_local_port: u16,
    pub stats: TcpStats,
}

/// Ephemeral ports for port-forward connections from the gateway (RFC 6335 §6).
const EPHEMERAL_FIRST: u16 = 49152;

impl TcpNat {
    pub fn new(limits: TcpLimits) -> TcpNat {
        TcpNat { flows: HashMap::new(), limits, next_local_port: EPHEMERAL_FIRST, stats: TcpStats::default() }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn has_room(&self) -> bool {
        self.flows.len() < self.limits.max_flows
    }

    /// Whether a segment for `key` belongs to a flow; `Some(true)` if that
    /// flow is still waiting for its peer (the segment is then a duplicate SYN).
    pub fn lookup(&self, key: &FlowKey) -> Option<bool> {
        self.flows.get(key).map(|f| matches!(f.stage, Stage::Connecting { .. }))
    }

    /// Registers a guest connection request whose peer is connecting.
    pub fn start(&mut self, key: FlowKey, syn: Vec<u8>, peer: Box<dyn TcpPeer>, now: Instant) {
        let deadline = now + self.limits.connect_timeout;
        self.flows.insert(
            key,
            Flow { stage: Stage::Connecting { syn, deadline }, peer, guest_fin_forwarded: false, peer_eof: false },
        );
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.limits.rx_buffer]),
            tcp::SocketBuffer::new(vec![0; self.limits.tx_buffer]),
        );
        s.set_timeout(Some(self.limits.user_timeout));
        // Probes make a vanished guest visible: unanswered, they hit the
        // user timeout and the flow (and its host socket) is dropped.
        s.set_keep_alive(Some(self.limits.keep_alive));
        // Bytes from peers arrive in large reads; Nagle only adds latency.
        s.set_nagle_enabled(false);
        s
    }

    /// Opens a connection from the gateway to `guest` carrying `peer`'s bytes
    /// (a port forward). The guest's refusal closes the peer.
    pub fn open_to_guest(
        &mut self,
        guest: SocketAddrV4,
        peer: Box<dyn TcpPeer>,
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
    ) -> io::Result<()> {
        if !self.has_room() {
            return Err(io::Error::other("too many TCP flows"));
        }
        let mut port = None;
        for _ in 0..=(u16::MAX - EPHEMERAL_FIRST) {
            let p = self.next_local_port;
            self.next_local_port = if p == u16::MAX { EPHEMERAL_FIRST } else { p + 1 };
            if !self.flows.contains_key(&FlowKey { guest, remote: SocketAddrV4::new(GATEWAY_IP, p) }) {
                port = Some(p);
                break;
            }
        }
        let port = port.ok_or_else(|| io::Error::other("no free local port"))?;
        let mut socket = self.new_socket();
        socket
            .connect(iface.context(), (*guest.ip(), guest.port()), (GATEWAY_IP, port))
            .map_err(|e| io::Error::other(format!("connect to guest {guest}: {e}")))?;
        let handle = sockets.add(socket);
        let key = FlowKey { guest, remote: SocketAddrV4::new(GATEWAY_IP, port) };
        self.flows.insert(key, Flow { stage: Stage::Open(handle), peer, guest_fin_forwarded: false, peer_eof: false });
        self.stats.opened += 1;
        Ok(())
    }

    /// Moves bytes between sockets and peers, completes or refuses held
    /// connection requests and drops finished flows.
    pub fn poll(&mut self, now: Instant, iface: &mut Interface, device: &mut QueueDevice, sockets: &mut SocketSet<'static>) {
        // Reap flows whose socket closed during the interface poll that ran
        // just before (an abort's RST has been sent by now).
        let mut dead = Vec::new();
        for (key, flow) in &self.flows {
            if let Stage::Open(h) = flow.stage {
                let state = sockets.get::<tcp::Socket>(h).state();
                if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                    dead.push((*key, h));
                }
            }
        }
        for (key, h) in dead {
            log::debug!("tcp {} -> {}: closed", key.guest, key.remote);
            self.flows.remove(&key);
            sockets.remove(h);
            self.stats.closed += 1;
        }

        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for key in keys {
            let Some(flow) = self.flows.get_mut(&key) else { continue };
            match &flow.stage {
                Stage::Connecting { deadline, .. } => {
                    let state = match flow.peer.poll_connect() {
                        ConnectState::Pending if now >= *deadline => ConnectState::Failed(io::ErrorKind::TimedOut),
                        s => s,
                    };
                    match state {
                        ConnectState::Pending => {}
                        ConnectState::Connected => {
                            let socket = self.new_socket();
                            let mut socket = socket;
                            let endpoint = IpListenEndpoint { addr: Some((*key.remote.ip()).into()), port: key.remote.port() };
                            if let Err(e) = socket.listen(endpoint) {
                                log::warn!("tcp {}: cannot listen: {e}", key.remote);
                                self.flows.remove(&key);
                                continue;
                            }
                            let handle = sockets.add(socket);
                            let flow = self.flows.get_mut(&key).expect("flow present");
                            let Stage::Connecting { syn, .. } = std::mem::replace(&mut flow.stage, Stage::Open(handle))
                            else {
                                unreachable!("matched Connecting above")
                            };
                            // Feed the held SYN now, alone, so it meets this listener.
                            device.rx.push_back(syn);
                            iface.poll(now, device, sockets);
                            self.stats.opened += 1;
                            log::debug!("tcp {} -> {}: open", key.guest, key.remote);
                        }
                        ConnectState::Failed(kind) => {
                            log::debug!("tcp {} -> {}: refused ({kind:?})", key.guest, key.remote);
                            let Some(Flow { stage: Stage::Connecting { syn, .. }, .. }) = self.flows.remove(&key) else {
                                unreachable!("matched Connecting above")
                            };
                            // No listener: the interface answers the SYN with a RST.
                            device.rx.push_back(syn);
                            iface.poll(now, device, sockets);
                            self.stats.refused += 1;
                        }
                    }
                }
                Stage::Open(handle) => {
                    let handle = *handle;
                    let socket = sockets.get_mut::<tcp::Socket>(handle);
                    flow.peer.poll(now);
                    pump(key, flow, socket);
                }
            }
        }
    }

    /// The earliest connect deadline or peer timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.flows
            .values()
            .filter_map(|f| match f.stage {
                Stage::Connecting { deadline, .. } => Some(deadline),
                Stage::Open(_) => f.peer.poll_at(),
            })
            .min()
    }
}

/// Copies what can be copied in both directions without blocking.
fn pump(key: FlowKey, flow: &mut Flow, socket: &mut tcp::Socket<'static>) {
    let peer = &mut flow.peer;
    // Guest → peer.
    loop {
        let r = socket.recv(|buf| {
            if buf.is_empty() {
                return (0, Ok(0));
            }
            match peer.write(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            }
        });
        match r {
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
            Ok(Err(e)) => {
                log::debug!("tcp {} -> {}: peer write failed: {e}; resetting", key.guest, key.remote);
                socket.abort();
                return;
            }
            Err(tcp::RecvError::Finished) => {
                if !flow.guest_fin_forwarded {
                    flow.guest_fin_forwarded = true;
                    peer.shutdown_write();
                }
                break;
            }
            Err(tcp::RecvError::InvalidState) => break,
        }
    }
    // Peer → guest.
    while !flow.peer_eof && socket.can_send() {
        let r = socket.send(|buf| match peer.read(buf) {
            Ok(n) => (n, Ok(n)),
            Err(e) => (0, Err(e)),
        });
        match r {
            Ok(Ok(0)) => {
                flow.peer_eof = true;
                socket.close();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
            Ok(Err(e)) => {
                log::debug!("tcp {} -> {}: peer read failed: {e}; resetting", key.guest, key.remote);
                socket.abort();
                return;
            }
            Err(_) => break,
        }
    }
}
