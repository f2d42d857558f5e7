//! The browser host: netvm compiled for wasm32-unknown-emscripten runs in a
//! pthread (PROXY_TO_PTHREAD) while the FS, the terminal (xterm-pty) and
//! WebSockets live on the page's main thread. Every system call from here
//! is proxied there and waits for it, so this module keeps them few: the
//! console batches output and polls input at a bounded rate, the disk image
//! is read into memory once. Time comes from `performance.now()` via `ffi/`
//! because std's clocks and sleep pass a `timespec` whose layout does not
//! match emscripten 3.1.6's 32-bit `time_t` (docs/browser.md).

#[path = "../../../ffi/mod.rs"]
mod ffi;

use std::io;
use std::net::{SocketAddr, SocketAddrV4, TcpStream, ToSocketAddrs};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use netvm_pty_bridge::{RawMode, Terminal as Tty};

use super::RunEvent;
use crate::backends::block::{BlockBackend, ImageBlock};
use crate::backends::clock::Clock;
use crate::backends::net::{FrameBackend, SocketNet};
use crate::backends::terminal::Terminal;

/// Longest wait for the WebSocket behind the NIC to open.
const CONNECT_TIMEOUT_MS: f64 = 15_000.0;
/// Without the page's input flag (under Node), typed input is looked for at
/// most this often (each look is a round trip to the main thread); a frame
/// at 60 Hz, well under what a typist notices.
const INPUT_POLL_MS: f64 = 16.0;
/// Set to 1 by the page (on its main thread) when its terminal has input;
/// the console clears it before it reads. One console per process.
static INPUT_READY: AtomicI32 = AtomicI32::new(0);
/// Console output handed to the page's terminal and not yet written there.
static OUTPUT_PENDING: AtomicI32 = AtomicI32::new(0);
/// Above this much output in flight the console waits for the page (a
/// guest printing faster than the page draws must not fill memory).
const MAX_OUTPUT_PENDING: i32 = 256 * 1024;
/// After the socket had nothing to read, it is not asked again for this long
/// (each read is a round trip to the main thread; the machine polls its
/// devices every time slice, a fraction of a millisecond).
const NET_IDLE_POLL_MS: f64 = 1.0;
/// Guest output waits at most this long in the batch...
const OUTPUT_DELAY_MS: f64 = 16.0;
/// ...and at most this many bytes.
const OUTPUT_BATCH: usize = 16 * 1024;

/// Process-wide setup: the logger (stderr is the browser console), without
/// timestamps, which would read std's broken clock.
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
}

/// `performance.now()` for monotonic time, `Date.now()` for the wall clock.
struct PageClock {
    start_ms: f64,
}

impl Clock for PageClock {
    fn monotonic_ns(&self) -> u64 {
        ((ffi::now_ms() - self.start_ms).max(0.0) * 1e6) as u64
    }
    fn wall_ns(&self) -> u64 {
        (ffi::date_now_ms().max(0.0) * 1e6) as u64
    }
}

pub fn clock() -> Box<dyn Clock> {
    Box::new(PageClock { start_ms: ffi::now_ms() })
}

/// Blocks the emulator's thread (Atomics.wait; the page keeps running) for
/// about `ns` nanoseconds; returns the nanoseconds that really passed.
pub fn wait(ns: u64) -> u64 {
    let start = ffi::now_ms();
    ffi::sleep_ms(ns as f64 / 1e6);
    ((ffi::now_ms() - start).max(0.0) * 1e6) as u64
}

/// The page's terminal (xterm-pty is the program's TTY) in raw mode.
struct PageConsole {
    tty: Tty,
    _raw: Option<RawMode>,
    out: Vec<u8>,
    last_flush_ms: f64,
    last_poll_ms: f64,
    /// The TTY is the page's terminal (xterm-pty), which sets
    /// [`INPUT_READY`] on input: the TTY is read only then, with no round
    /// trip to the main thread while nobody types (polling it cost about
    /// 3 ms a time, a fifth of the guest's boot), and output is queued for
    /// it without waiting (a synchronous write waited ~2 ms for the main
    /// thread, which is busy drawing while the kernel prints its log).
    page_terminal: bool,
    /// Input ended or failed; reported once.
    input_closed: bool,
}

impl PageConsole {
    fn flush(&mut self) -> io::Result<()> {
        self.last_flush_ms = ffi::now_ms();
        if self.out.is_empty() {
            return Ok(());
        }
        let result = if self.page_terminal {
            while OUTPUT_PENDING.load(Ordering::Acquire) > MAX_OUTPUT_PENDING {
                ffi::sleep_ms(1.0);
            }
            ffi::write_terminal(&self.out, &OUTPUT_PENDING)
        } else {
            self.tty.write_all(&self.out)
        };
        self.out.clear();
        result
    }
}

impl Terminal for PageConsole {
    fn read_input(&mut self, buf: &mut [u8]) -> usize {
        // Called every time slice: output that waited long enough goes out
        // even when the guest writes nothing more (a prompt).
        let now = ffi::now_ms();
        if !self.out.is_empty() && now - self.last_flush_ms >= OUTPUT_DELAY_MS {
            if let Err(e) = self.flush() {
                log::warn!("console output: {e}");
            }
        }
        if self.input_closed {
            return 0;
        }
        if self.page_terminal {
            if INPUT_READY.swap(0, Ordering::AcqRel) == 0 {
                return 0;
            }
        } else if now - self.last_poll_ms < INPUT_POLL_MS {
            return 0;
        }
        self.last_poll_ms = now;
        match self.tty.read_available(buf) {
            Ok(n) => {
                if self.page_terminal && n == buf.len() {
                    // More may wait: read again next time.
                    INPUT_READY.store(1, Ordering::Release);
                }
                n
            }
            Err(e) => {
                log::warn!("console input: {e}");
                self.input_closed = true;
                0
            }
        }
    }

    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(data);
        if self.out.len() >= OUTPUT_BATCH || ffi::now_ms() - self.last_flush_ms >= OUTPUT_DELAY_MS {
            self.flush()?;
        }
        Ok(())
    }
}

pub fn console() -> Box<dyn Terminal> {
    let tty = Tty::stdio();
    let raw = if tty.is_tty() { tty.raw_mode().map_err(|e| log::warn!("console raw mode: {e}")).ok() } else { None };
    let page_terminal = ffi::watch_terminal_input(&INPUT_READY);
    Box::new(PageConsole {
        tty,
        _raw: raw,
        out: Vec::with_capacity(OUTPUT_BATCH),
        last_flush_ms: 0.0,
        last_poll_ms: 0.0,
        page_terminal,
        input_closed: false,
    })
}

/// Guest RAM and the like, at least this large, come from
/// [`untouched_zeroed`]; smaller buffers are not worth keeping forever.
const UNTOUCHED_MIN: usize = 16 << 20;

/// `size` zero bytes taken from the top of the wasm heap with `sbrk`,
/// never freed. dlmalloc's `calloc` clears what it returns (it has no mmap
/// to know fresh memory), which cost the page's worker ~0.27 s for 256 MiB
/// of guest RAM. Memory past the heap's break has never been written: wasm
/// memory starts zeroed, grows zeroed, and emscripten's dlmalloc never
/// gives memory back to `sbrk` (MORECORE_CANNOT_TRIM), so no freed bytes
/// lie above the break; dlmalloc copes with other callers of `sbrk`.
/// For the program's one machine: the memory stays allocated to the end.
pub fn untouched_zeroed(size: usize) -> Option<&'static mut [u8]> {
    if size < UNTOUCHED_MIN {
        return None;
    }
    let increment = libc::intptr_t::try_from(size).ok()?;
    // SAFETY: sbrk returns `size` bytes nobody else owns, or -1.
    let start = unsafe { libc::sbrk(increment) };
    if start as isize == -1 || start.is_null() {
        log::warn!("sbrk({size}) failed; guest RAM comes from calloc");
        return None;
    }
    // SAFETY: the range is ours alone (above), zero (above), and never freed.
    Some(unsafe { std::slice::from_raw_parts_mut(start.cast::<u8>(), size) })
}

/// The disk image, read from the page's FS into memory once.
pub fn open_disk(path: &Path, read_only: bool) -> io::Result<Box<dyn BlockBackend>> {
    Ok(Box::new(ImageBlock::open(path, read_only)?))
}

/// A TCP connection to `addr`, which emscripten opens as a WebSocket to
/// `Module.websocket.url` (the address itself then only matters when no
/// URL is set). Non-blocking from the start: emscripten's connect always
/// answers EINPROGRESS, and std's set_nonblocking (ioctl FIONBIO) aborts
/// under 3.1.6, so this uses fcntl and waits for the socket to become
/// writable, polling with zero timeouts (its poll() never blocks).
pub fn connect_net(addr: &str) -> io::Result<Box<dyn FrameBackend>> {
    let target = resolve(addr)?;
    let url = ffi::websocket_url().unwrap_or_else(|| format!("ws://{target}"));
    let fail = |what: String| io::Error::new(io::ErrorKind::ConnectionRefused, format!("{addr} ({url}): {what}"));
    // SAFETY: plain socket calls on a descriptor owned here (by the
    // TcpStream as soon as it exists); the sockaddr_in is initialised and
    // outlives the call.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(fail(format!("socket: {}", io::Error::last_os_error())));
        }
        let stream = TcpStream::from_raw_fd(fd);
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(fail(format!("fcntl O_NONBLOCK: {}", io::Error::last_os_error())));
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = target.port().to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes(target.ip().octets());
        let len = std::mem::size_of_val(&sa) as libc::socklen_t;
        if libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), len) != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(fail(format!("connect: {e}")));
            }
        }
        stream
    };
    let deadline = ffi::now_ms() + CONNECT_TIMEOUT_MS;
    loop {
        let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&stream), events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n < 0 {
            return Err(fail(format!("poll: {}", io::Error::last_os_error())));
        }
        if n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Err(fail("the WebSocket was refused or closed".into()));
        }
        if n > 0 && pfd.revents & libc::POLLOUT != 0 {
            break;
        }
        if ffi::now_ms() > deadline {
            return Err(fail(format!("the WebSocket did not open within {} s", CONNECT_TIMEOUT_MS / 1000.0)));
        }
        ffi::sleep_ms(5.0);
    }
    log::info!("network socket open: {url}");
    Ok(Box::new(PacedNet { inner: SocketNet::new(stream), next_read_ms: 0.0 }))
}

/// A frame backend whose reads are paced: once the socket came up empty it
/// is not read again for [`NET_IDLE_POLL_MS`]; while frames arrive, every
/// call reads. Sends are never delayed.
struct PacedNet<B> {
    inner: B,
    next_read_ms: f64,
}

impl<B: FrameBackend> FrameBackend for PacedNet<B> {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let now = ffi::now_ms();
        if now < self.next_read_ms {
            return Ok(None);
        }
        let got = self.inner.recv(buf)?;
        if got.is_none() {
            self.next_read_ms = now + NET_IDLE_POLL_MS;
        }
        Ok(got)
    }
    fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        // A reply is likely soon: look for it on the next poll.
        self.next_read_ms = 0.0;
        self.inner.send(frame)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddrV4> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {why}"));
    if let Ok(v4) = addr.parse::<SocketAddrV4>() {
        return Ok(v4);
    }
    addr.to_socket_addrs()
        .map_err(|e| bad(&e.to_string()))?
        .find_map(|a| match a {
            SocketAddr::V4(v4) => Some(v4),
            SocketAddr::V6(_) => None,
        })
        .ok_or_else(|| bad("no IPv4 address"))
}

/// Milestones go to the page (`Module.onNetvmEvent('machine', ...)`),
/// which shows them in its status line.
pub fn report(event: RunEvent) {
    match event {
        RunEvent::Booting => ffi::emit("machine", "booting"),
        RunEvent::Stopped(how) => ffi::emit("machine", &format!("stopped: {how}")),
        RunEvent::Failed(why) => ffi::emit("machine", &format!("failed: {why}")),
        RunEvent::Progress { instructions, host_ns, idle_ns } => {
            ffi::emit("machine", &format!("progress: instructions={instructions} host-ns={host_ns} idle-ns={idle_ns}"))
        }
    }
}
