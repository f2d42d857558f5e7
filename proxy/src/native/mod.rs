//! The native upstream: real sockets, one thread per request.
//!
//! Used by `netvm-net --proxy`, the tests and the benchmark. Each
//! [`Exchange`] is a thread speaking HTTP/1.1 (over rustls for https) to
//! the origin; bounded channels carry the request body to it and the
//! response events back, so a slow guest slows the origin read instead
//! of filling memory.

mod client;
pub mod front;
mod roots;

use crate::upstream::{
    Exchange, RequestBody, Upstream, UpstreamEvent, UpstreamRequest, MAX_BODY_CHUNK,
};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

pub use roots::RootsError;

/// Body pieces in flight per direction (each up to [`MAX_BODY_CHUNK`]).
const CHANNEL_DEPTH: usize = 4;

#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// Trust the operating system's root certificates.
    pub system_roots: bool,
    /// Extra PEM files of CA certificates to trust (`--upstream-ca F`).
    pub extra_ca_files: Vec<PathBuf>,
    pub connect_timeout: Duration,
    /// Longest wait for any single read or write on an upstream socket.
    pub io_timeout: Duration,
    /// Requests in flight at once (one thread each); more are refused with
    /// a 502 so that a guest cannot exhaust the host's threads.
    pub max_in_flight: usize,
}

impl Default for NativeOptions {
    fn default() -> Self {
        NativeOptions {
            system_roots: true,
            extra_ca_files: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            io_timeout: Duration::from_secs(60),
            max_in_flight: 256,
        }
    }
}

#[derive(Clone)]
pub struct NativeUpstream {
    tls: Arc<rustls::ClientConfig>,
    options: NativeOptions,
    in_flight: Arc<AtomicUsize>,
}

impl NativeUpstream {
    pub fn new(options: NativeOptions) -> Result<NativeUpstream, RootsError> {
        let tls = roots::client_config(options.system_roots, &options.extra_ca_files)?;
        Ok(NativeUpstream {
            tls,
            options,
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }
}

impl Upstream for NativeUpstream {
    fn start(&self, request: UpstreamRequest, waker: Waker) -> Box<dyn Exchange> {
        let (body_tx, body_rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let (event_tx, event_rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let socket = Arc::new(Mutex::new(SocketSlot::default()));
        let has_body = request.body != RequestBody::None;
        let slot = InFlight::take(&self.in_flight, self.options.max_in_flight);
        let job = client::Job {
            request,
            tls: self.tls.clone(),
            options: self.options.clone(),
            body: body_rx,
            events: event_tx,
            socket: socket.clone(),
            waker,
        };
        let mut exchange = NativeExchange {
            body: has_body.then_some(body_tx),
            end_pending: false,
            events: event_rx,
            socket,
            failed: None,
        };
        let Some(slot) = slot else {
            exchange.failed = Some(format!(
                "more than {} upstream requests in flight",
                self.options.max_in_flight
            ));
            return Box::new(exchange);
        };
        let spawned = std::thread::Builder::new()
            .name("netvm-proxy-upstream".into())
            .spawn(move || {
                job.run();
                drop(slot);
            });
        if let Err(e) = spawned {
            exchange.failed = Some(format!("cannot start a thread: {e}"));
        }
        Box::new(exchange)
    }
}

/// One of `max_in_flight` slots, released when the worker thread ends.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<InFlight> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(InFlight(counter.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A message on the request body channel.
pub(crate) enum BodyPiece {
    Data(Vec<u8>),
    /// The body is complete; a channel closed without it means "cancelled".
    End,
}

struct NativeExchange {
    body: Option<SyncSender<BodyPiece>>,
    /// `finish_body` found the channel full; `End` is sent on a later poll.
    end_pending: bool,
    events: Receiver<UpstreamEvent>,
    /// The thread's socket, shut down on drop to unblock it.
    socket: Arc<Mutex<SocketSlot>>,
    failed: Option<String>,
}

impl Exchange for NativeExchange {
    fn write_body(&mut self, data: &[u8]) -> usize {
        let Some(tx) = &self.body else {
            return data.len();
        };
        let n = data.len().min(MAX_BODY_CHUNK);
        match tx.try_send(BodyPiece::Data(data[..n].to_vec())) {
            Ok(()) => n,
            Err(TrySendError::Full(_)) => 0,
            // The thread stopped reading the body (the request failed, its
            // error event is on the way): swallow the rest.
            Err(TrySendError::Disconnected(_)) => data.len(),
        }
    }

    fn finish_body(&mut self) {
        self.end_pending = self.body.is_some();
        self.send_end();
    }

    fn poll_event(&mut self) -> Option<UpstreamEvent> {
        self.send_end();
        if let Some(msg) = self.failed.take() {
            return Some(UpstreamEvent::Error(crate::UpstreamError::new(
                crate::ErrorKind::Io,
                msg,
            )));
        }
        match self.events.try_recv() {
            Ok(ev) => Some(ev),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(UpstreamEvent::Error(crate::UpstreamError::new(
                    crate::ErrorKind::Io,
                    "upstream worker ended without an answer",
                )))
            }
        }
    }
}

impl NativeExchange {
    /// Never blocks the proxy's poll loop: a full channel is retried on the
    /// next poll (the worker wakes the proxy whenever it takes a piece).
    fn send_end(&mut self) {
        if !self.end_pending {
            return;
        }
        let Some(tx) = &self.body else { return };
        match tx.try_send(BodyPiece::End) {
            Err(TrySendError::Full(_)) => {}
            Ok(()) | Err(TrySendError::Disconnected(_)) => {
                self.end_pending = false;
                self.body = None;
            }
        }
    }
}

impl Drop for NativeExchange {
    fn drop(&mut self) {
        let mut slot = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        slot.cancelled = true;
        if let Some(s) = slot.stream.as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The worker's socket as the exchange sees it. `cancelled` covers a drop
/// that comes before the worker has connected.
#[derive(Default)]
pub(crate) struct SocketSlot {
    pub stream: Option<TcpStream>,
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Url;
    use crate::upstream::ErrorKind;
    use std::net::TcpListener;

    #[test]
    fn requests_beyond_the_in_flight_limit_are_refused() {
        // An origin that accepts and never answers keeps the first request busy.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
        // Plain HTTP only: a CA file is needed to build the client, never used.
        let ca = crate::CertificateAuthority::generate(1_700_000_000).unwrap();
        let ca_file =
            std::env::temp_dir().join(format!("netvm-proxy-inflight-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca.ca_cert_pem()).unwrap();
        let options = NativeOptions {
            system_roots: false,
            extra_ca_files: vec![ca_file.clone()],
            max_in_flight: 1,
            ..NativeOptions::default()
        };
        let upstream = NativeUpstream::new(options).unwrap();
        let _ = std::fs::remove_file(&ca_file);
        let request = || UpstreamRequest {
            method: "GET".into(),
            url: url.clone(),
            headers: vec![],
            body: RequestBody::None,
        };
        let first = upstream.start(request(), Waker::noop().clone());
        let mut second = upstream.start(request(), Waker::noop().clone());
        match second.poll_event() {
            Some(UpstreamEvent::Error(e)) => assert!(
                e.detail.contains("in flight") && e.kind == ErrorKind::Io,
                "{e}"
            ),
            other => panic!("second request not refused: {other:?}"),
        }
        drop(first);
        // The slot comes back once the first worker ends (its socket is shut down on drop).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while upstream.in_flight.load(Ordering::Acquire) > 0 {
            assert!(std::time::Instant::now() < deadline, "slot never released");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(silent);
    }
}
