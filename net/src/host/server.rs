//! The daemon's event loop: listeners accept VM links, each link gets its
//! own [`VirtualNetwork`] wired to host sockets, and one mio poll drives it all.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use mio::net::{TcpListener, TcpStream, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};
use smoltcp::wire::EthernetAddress;

use super::resolver::HostResolver;
use super::transport::{ReadResult, Socket, Transport};
use super::upstream::{AcceptedPeer, HostUpstream, NatSources};
use super::ws::Policy;
use crate::clock::{Clock, MonotonicClock};
use crate::consts::{DEFAULT_GUEST_MAC, GUEST_IP};
use crate::framing::FrameDecoder;
use crate::network::{NetworkConfig, VirtualNetwork};

/// A host port forwarded to a guest port (`-p [IP:]HOSTPORT:GUESTPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub host: SocketAddr,
    pub guest_port: u16,
}

/// What the daemon listens on and how its networks look.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen_ws: Vec<SocketAddr>,
    pub listen: Vec<SocketAddr>,
    pub listen_unix: Vec<PathBuf>,
    pub connect: Vec<SocketAddr>,
    pub guest_mac: EthernetAddress,
    pub forwards: Vec<Forward>,
    pub allowed_origins: Vec<String>,
    /// VM links served at once; more are closed on accept.
    pub max_vms: usize,
    /// `--proxy`: serve the HTTP/HTTPS proxy on 192.168.127.253.
    #[cfg(feature = "proxy")]
    pub proxy: Option<super::proxy::ProxyOptions>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen_ws: Vec::new(),
            listen: Vec::new(),
            listen_unix: Vec::new(),
            connect: Vec::new(),
            guest_mac: DEFAULT_GUEST_MAC,
            forwards: Vec::new(),
            allowed_origins: Vec::new(),
            max_vms: 64,
            #[cfg(feature = "proxy")]
            proxy: None,
        }
    }
}

const WAKER: Token = Token(0);
/// Listener tokens are 1..VM_BASE; VM `id` uses VM_BASE + 2*id (its link)
/// and VM_BASE + 2*id + 1 (all its upstream sockets).
const VM_BASE: usize = 1 << 16;
/// Stream bytes read from one link per round before the network is polled.
const READ_CHUNK: usize = 64 * 1024;

enum ListenerKind {
    Raw(TcpListener),
    Ws(TcpListener),
    Unix(UnixListener, PathBuf),
    Forward(TcpListener, u16),
}

struct Vm {
    transport: Transport,
    decoder: FrameDecoder,
    net: VirtualNetwork,
    name: String,
    deadline: Option<std::time::Instant>,
    /// A WebSocket link must finish its handshake by then, or it is closed
    /// (so idle half-open sockets cannot hold VM slots).
    handshake_deadline: Option<std::time::Instant>,
}

/// Timer floor while a link cannot take more frames.
const CONGESTED_RETRY: smoltcp::time::Duration = smoltcp::time::Duration::from_millis(10);

/// Time a WebSocket client has for its handshake.
const HANDSHAKE_TIMEOUT: StdDuration = StdDuration::from_secs(10);

pub struct Server {
    poll: Poll,
    listeners: Vec<ListenerKind>,
    vms: HashMap<usize, Vm>,
    next_vm: usize,
    clock: MonotonicClock,
    resolver: HostResolver,
    own_listeners: Rc<Vec<SocketAddr>>,
    nat_sources: NatSources,
    config: ServerConfig,
    /// Set once every listener is gone and the last `--connect` link closed.
    connect_only: bool,
    #[cfg(feature = "proxy")]
    proxy: Option<super::proxy::HostProxy>,
}

impl Server {
    /// Binds every listener and makes every `--connect` connection.
    pub fn new(config: ServerConfig) -> io::Result<Server> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        let mut own = Vec::new();
        let ctx = |what: &str, addr: &dyn std::fmt::Display, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot {what} {addr}: {e}"))
        };
        for addr in &config.listen {
            let l = TcpListener::bind(*addr).map_err(|e| ctx("listen on", addr, e))?;
            own.push(l.local_addr()?);
            log::info!("listening for QEMU stream connections on {}", l.local_addr()?);
            listeners.push(ListenerKind::Raw(l));
        }
        for addr in &config.listen_ws {
            let l = TcpListener::bind(*addr).map_err(|e| ctx("listen on", addr, e))?;
            own.push(l.local_addr()?);
            log::info!("listening for WebSocket connections on {}", l.local_addr()?);
            listeners.push(ListenerKind::Ws(l));
        }
        for path in &config.listen_unix {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|e| ctx("listen on", &path.display(), e))?;
            log::info!("listening for QEMU stream connections on unix:{}", path.display());
            listeners.push(ListenerKind::Unix(l, path.clone()));
        }
        for f in &config.forwards {
            let l = TcpListener::bind(f.host).map_err(|e| ctx("forward", &f.host, e))?;
            own.push(l.local_addr()?);
            log::info!("forwarding {} to guest port {}", l.local_addr()?, f.guest_port);
            listeners.push(ListenerKind::Forward(l, f.guest_port));
        }
        for (i, l) in listeners.iter_mut().enumerate() {
            let token = Token(1 + i);
            match l {
                ListenerKind::Raw(s) | ListenerKind::Ws(s) | ListenerKind::Forward(s, _) => {
                    poll.registry().register(s, token, Interest::READABLE)?
                }
                ListenerKind::Unix(s, _) => poll.registry().register(s, token, Interest::READABLE)?,
            }
        }
        let connect_only = listeners.is_empty();
        #[cfg(feature = "proxy")]
        let proxy = match &config.proxy {
            Some(options) => Some(super::proxy::HostProxy::start(options, waker.clone()).map_err(io::Error::other)?),
            None => None,
        };
        let mut server = Server {
            poll,
            listeners,
            vms: HashMap::new(),
            next_vm: 1,
            clock: MonotonicClock::new(),
            resolver: HostResolver::new(waker),
            own_listeners: Rc::new(own),
            nat_sources: Rc::new(RefCell::new(HashSet::new())),
            config,
            connect_only,
            #[cfg(feature = "proxy")]
            proxy,
        };
        for addr in server.config.connect.clone() {
            let std_stream = std::net::TcpStream::connect(addr).map_err(|e| ctx("connect to", &addr, e))?;
            std_stream.set_nonblocking(true)?;
            std_stream.set_nodelay(true)?;
            log::info!("connected to {addr}");
            server.add_vm(Transport::raw(Socket::Tcp(TcpStream::from_std(std_stream))), format!("connect:{addr}"))?;
        }
        Ok(server)
    }

    /// The bound address of each TCP listener, in the order configured
    /// (`--listen`, then `--listen-ws`, then forwards).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.own_listeners.to_vec()
    }

    fn add_vm(&mut self, mut transport: Transport, name: String) -> io::Result<()> {
        if self.vms.len() >= self.config.max_vms {
            log::warn!("{name}: {} VMs connected already; closing", self.vms.len());
            return Ok(());
        }
        let id = self.next_vm;
        self.next_vm += 1;
        let link_token = Token(VM_BASE + 2 * id);
        let upstream_token = Token(VM_BASE + 2 * id + 1);
        if let Some(s) = transport.socket_mut() {
            self.poll.registry().register(s, link_token, Interest::READABLE | Interest::WRITABLE)?;
        }
        let upstream: Box<dyn crate::upstream::Upstream> = if self.browser_like() {
            // Transparent proxy mode mirrors the browser: no NAT, so other
            // destinations are refused (RST) rather than reached.
            Box::new(crate::upstream::Isolated)
        } else {
            Box::new(HostUpstream::new(
                self.poll.registry().try_clone()?,
                upstream_token,
                self.resolver.clone(),
                self.own_listeners.clone(),
                self.nat_sources.clone(),
            ))
        };
        let config = NetworkConfig {
            guest_mac: self.config.guest_mac,
            random_seed: seed(id),
            ..NetworkConfig::default()
        };
        #[allow(unused_mut)]
        let mut net = VirtualNetwork::new(config, upstream, self.clock.now());
        #[cfg(feature = "proxy")]
        if let Some(proxy) = &self.proxy {
            proxy.serve(&mut net, self.clock);
        }
        log::info!("{name}: VM link {id} open");
        let handshake_deadline = transport.is_handshaking().then(|| std::time::Instant::now() + HANDSHAKE_TIMEOUT);
        self.vms.insert(id, Vm { transport, decoder: FrameDecoder::default(), net, name, deadline: None, handshake_deadline });
        self.service(id);
        Ok(())
    }

    /// Whether VMs get no NAT (`--proxy --transparent`).
    fn browser_like(&self) -> bool {
        #[cfg(feature = "proxy")]
        if let Some(p) = &self.proxy {
            return p.transparent();
        }
        false
    }

    /// Serves until no listener and no VM remain (only with `--connect`).
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.connect_only && self.vms.is_empty() {
                log::info!("all links closed");
                return Ok(());
            }
            self.run_once(&mut events, None)?;
        }
    }

    /// One round of the loop; waits at most `max_wait` (tests use this).
    pub fn run_once(&mut self, events: &mut Events, max_wait: Option<StdDuration>) -> io::Result<()> {
        let now = std::time::Instant::now();
        let mut timeout = self.vms.values().filter_map(|v| v.deadline).min().map(|d| d.saturating_duration_since(now));
        if let Some(w) = max_wait {
            timeout = Some(timeout.map_or(w, |t| t.min(w)));
        }
        match self.poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut touched = HashSet::new();
        let mut wake_all = false;
        for event in events.iter() {
            match event.token() {
                WAKER => wake_all = true,
                Token(t) if t < VM_BASE => self.accept(t - 1),
                Token(t) => {
                    touched.insert((t - VM_BASE) / 2);
                }
            }
        }
        let now = std::time::Instant::now();
        let due: Vec<usize> = self
            .vms
            .iter()
            .filter(|(id, vm)| wake_all || touched.contains(id) || vm.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.service(id);
        }
        Ok(())
    }

    fn accept(&mut self, index: usize) {
        loop {
            let accepted = match &self.listeners[index] {
                ListenerKind::Raw(l) | ListenerKind::Ws(l) | ListenerKind::Forward(l, _) => l.accept().map(|(s, a)| {
                    // Frames are written in batches already; Nagle would only
                    // hold back lone ACK frames behind the peer's delayed ACK.
                    let _ = s.set_nodelay(true);
                    (Socket::Tcp(s), Some(a))
                }),
                ListenerKind::Unix(l, _) => l.accept().map(|(s, _)| (Socket::Unix(s), None)),
            };
            let (socket, peer) = match accepted {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            if let Some(peer) = peer {
                if self.nat_sources.borrow().contains(&peer) {
                    log::warn!("connection from {peer} is a guest reaching netvm-net through its own NAT; closed");
                    continue;
                }
            }
            let name = peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
            let result = match &self.listeners[index] {
                ListenerKind::Raw(_) | ListenerKind::Unix(..) => self.add_vm(Transport::raw(socket), name),
                ListenerKind::Ws(_) => {
                    let policy = Policy { allowed_origins: self.config.allowed_origins.clone() };
                    match Transport::websocket(socket, policy) {
                        Ok(t) => self.add_vm(t, format!("ws:{name}")),
                        Err(e) => {
                            log::warn!("ws:{name}: {e}");
                            Ok(())
                        }
                    }
                }
                ListenerKind::Forward(_, guest_port) => {
                    let guest_port = *guest_port;
                    self.forward(socket, guest_port, &name);
                    Ok(())
                }
            };
            if let Err(e) = result {
                log::warn!("{e}");
            }
        }
    }

    /// Hands an accepted forward connection to the newest VM.
    fn forward(&mut self, socket: Socket, guest_port: u16, name: &str) {
        let Socket::Tcp(mut stream) = socket else { return };
        let Some(id) = self.vms.keys().max().copied() else {
            log::warn!("forward from {name}: no VM connected; closed");
            return;
        };
        let token = Token(VM_BASE + 2 * id + 1);
        if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            return log::warn!("forward from {name}: {e}");
        }
        let vm = self.vms.get_mut(&id).expect("id from keys");
        let guest = SocketAddrV4::new(GUEST_IP, guest_port);
        match vm.net.connect_to_guest(guest, Box::new(AcceptedPeer { stream })) {
            Ok(()) => log::debug!("forward {name} -> {guest} via VM {id}"),
            Err(e) => log::warn!("forward {name} -> {guest}: {e}"),
        }
        self.service(id);
    }

    /// Moves everything that can move for one VM; closes it on link errors.
    fn service(&mut self, id: usize) {
        let clock = self.clock;
        let Some(vm) = self.vms.get_mut(&id) else { return };
        if let Some(d) = vm.handshake_deadline {
            if !vm.transport.is_handshaking() {
                vm.handshake_deadline = None;
            } else if std::time::Instant::now() >= d {
                log::warn!("{}: WebSocket handshake not finished in {HANDSHAKE_TIMEOUT:?}; closing", vm.name);
                vm.transport = Transport::closed();
            }
        }
        let (closed, more) = match pump_vm(vm, &clock) {
            Ok(Pumped::Closed) => (true, false),
            Ok(Pumped::Idle) => (false, false),
            Ok(Pumped::More) => (false, true),
            Err(e) => {
                log::warn!("{}: {e}", vm.name);
                (true, false)
            }
        };
        if closed {
            let mut vm = self.vms.remove(&id).expect("present above");
            if let Some(s) = vm.transport.socket_mut() {
                let _ = self.poll.registry().deregister(s);
            }
            log::info!("{}: VM link {id} closed ({:?})", vm.name, vm.net.stats());
            return;
        }
        let now = clock.now();
        let delay = if more {
            Some(smoltcp::time::Duration::ZERO)
        } else if !vm.transport.accepts_frames() {
            // Congested link: its writability event resumes us; timers can
            // wait a little instead of spinning on "data ready to send".
            Some(vm.net.poll_delay(now).map_or(CONGESTED_RETRY, |d| d.max(CONGESTED_RETRY)))
        } else {
            vm.net.poll_delay(now)
        };
        vm.deadline = delay.map(|d| std::time::Instant::now() + StdDuration::from_micros(d.total_micros()));
        if let Some(h) = vm.handshake_deadline {
            vm.deadline = Some(vm.deadline.map_or(h, |d| d.min(h)));
        }
    }
}

/// What [`pump_vm`] left behind.
enum Pumped {
    Closed,
    /// Input was drained to `WouldBlock`.
    Idle,
    /// The round limit was hit with input possibly pending.
    More,
}

fn pump_vm(vm: &mut Vm, clock: &MonotonicClock) -> io::Result<Pumped> {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    // Bounded rounds keep one busy VM from starving the others; with more
    // input pending the deadline below is "now", so it continues next round.
    for _ in 0..64 {
        buf.clear();
        let read = vm.transport.read(&mut buf, READ_CHUNK)?;
        let now = clock.now();
        vm.decoder.push(&buf);
        loop {
            match vm.decoder.next_frame() {
                Ok(Some(frame)) => vm.net.receive_frame(&frame, now),
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        vm.net.poll(now);
        while vm.transport.accepts_frames() {
            let Some(frame) = vm.net.pop_frame() else { break };
            vm.transport.send_frame(&frame)?;
        }
        vm.transport.flush()?;
        match read {
            ReadResult::Closed => return Ok(Pumped::Closed),
            ReadResult::WouldBlock => return Ok(Pumped::Idle),
            ReadResult::Progress => {}
        }
    }
    Ok(Pumped::More)
}

fn seed(id: usize) -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    t ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Drop for Server {
    fn drop(&mut self) {
        for l in &self.listeners {
            if let ListenerKind::Unix(_, path) = l {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
