//! Serves [`ProxyConnection`]s on real TCP sockets: the loopback stand-in
//! for the virtual network, used by the `netvm-proxy` binary, the
//! integration tests and the benchmark. It drives the connection exactly
//! as the smoltcp loop does — feed, poll, take output, wait for the waker
//! or `poll_at` — with one thread per connection.

use super::NativeUpstream;
use crate::ca::CertificateAuthority;
use crate::clock::Instant;
use crate::connection::{Destination, ProxyConnection, Role};
use crate::proxy::{Proxy, ProxyConfig};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Wake, Waker};
use std::time::Duration;

/// Longest sleep between polls when nothing wakes the loop.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// What each accepted connection is served with.
#[derive(Clone)]
pub struct FrontConfig {
    pub ca: Arc<CertificateAuthority>,
    pub upstream: NativeUpstream,
    pub proxy: ProxyConfig,
    pub role: Role,
    /// Serve as if the guest had connected to this port instead of the
    /// listening one (transparent-mode tests: the origin's port).
    pub dest_port: Option<u16>,
}

/// Accepts connections on `listener` forever, each on its own thread.
pub fn serve(listener: TcpListener, config: FrontConfig) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = stream?;
        let config = config.clone();
        std::thread::Builder::new()
            .name("netvm-proxy-conn".into())
            .spawn(move || {
                let peer = stream.peer_addr().ok();
                if let Err(e) = serve_connection(stream, config) {
                    log::debug!("connection from {peer:?}: {e}");
                }
            })?;
    }
    Ok(())
}

/// Wakes the connection's loop from upstream threads and its reader.
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cond.notify_one();
    }
}

impl Signal {
    fn wait(&self, timeout: Duration) {
        let mut woken = self.woken.lock().unwrap_or_else(|p| p.into_inner());
        if !*woken {
            woken = self
                .cond
                .wait_timeout(woken, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
    }
}

/// Serves one accepted socket until the proxy closes it or the peer goes away.
pub fn serve_connection(stream: TcpStream, config: FrontConfig) -> io::Result<()> {
    let port = match config.dest_port {
        Some(p) => p,
        None => stream.local_addr()?.port(),
    };
    let dest = Destination {
        port,
        role: config.role.clone(),
    };
    let proxy = std::rc::Rc::new(Proxy::new(
        config.ca,
        Box::new(config.upstream),
        config.proxy,
    ));
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(signal.clone());
    let epoch = std::time::Instant::now();
    let clock = || Instant::from_millis(epoch.elapsed().as_millis() as u64);
    let mut conn = ProxyConnection::new(proxy, dest, waker.clone(), clock());

    // A reader thread turns the blocking socket into messages; `None` is EOF.
    let (tx, rx) = mpsc::sync_channel::<Option<Vec<u8>>>(4);
    let mut reader = stream.try_clone()?;
    std::thread::Builder::new()
        .name("netvm-proxy-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let msg = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => None,
                    Ok(n) => Some(buf[..n].to_vec()),
                };
                let eof = msg.is_none();
                let sent = tx.send(msg).is_ok();
                waker.wake_by_ref();
                if eof || !sent {
                    return;
                }
            }
        })?;

    let mut writer = stream;
    let mut pending: Option<(Vec<u8>, usize)> = None;
    let mut eof = false;
    let mut out = vec![0u8; 64 * 1024];
    let result = loop {
        let now = clock();
        let mut progressed = false;
        // Guest → proxy, as far as the proxy takes it.
        while !eof {
            if pending.is_none() {
                pending = match rx.try_recv() {
                    Ok(Some(data)) => Some((data, 0)),
                    Ok(None) | Err(TryRecvError::Disconnected) => {
                        eof = true;
                        conn.on_guest_close(now);
                        None
                    }
                    Err(TryRecvError::Empty) => break,
                };
            }
            if let Some((data, off)) = &mut pending {
                let n = conn.feed_guest(&data[*off..], now);
                *off += n;
                progressed |= n > 0;
                if *off < data.len() {
                    break;
                }
                pending = None;
            }
        }
        conn.poll(now);
        // Proxy → guest.
        let mut write_error = None;
        loop {
            let n = conn.take_guest_output(&mut out);
            if n == 0 {
                break;
            }
            progressed = true;
            if let Err(e) = writer.write_all(&out[..n]) {
                write_error = Some(e);
                break;
            }
        }
        if let Some(e) = write_error {
            break Err(e);
        }
        if conn.is_aborted() {
            break Ok(());
        }
        if conn.is_finished() {
            let _ = writer.shutdown(Shutdown::Write);
            break Ok(());
        }
        if progressed {
            continue;
        }
        let wait = conn
            .poll_at()
            .map(|t| t.saturating_since(clock()))
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT);
        signal.wait(wait.max(Duration::from_millis(1)));
    };
    let _ = writer.shutdown(Shutdown::Both);
    result
}
