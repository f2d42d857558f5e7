//! A small program that exercises what netvm's browser build depends on, so
//! the toolchain, the ffi bindings, the packager, the terminal and the socket
//! emulation can be tested before the emulator runs there:
//!
//! - the clock (`emscripten_get_now` through the bindgen bindings),
//! - a file read from the preloaded package (`--file /pack/...`),
//! - a TCP connection through std::net (`--connect HOST:PORT`), which
//!   emscripten turns into a WebSocket to `Module.websocket.url`; it sends a
//!   line and expects it echoed back,
//! - a line read from the terminal (xterm-pty in the page, stdin in Node).
//!
//! It also builds and runs natively (plain std), which is what `cargo test`
//! compiles. Built for the browser by scripts/build-wasm.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};

#[cfg(target_os = "emscripten")]
#[path = "../ffi/mod.rs"]
mod ffi;

/// What differs between the emscripten build and the native one.
mod host {
    #[cfg(target_os = "emscripten")]
    pub use super::ffi::{emit, now_ms, set_status, sleep_ms};

    #[cfg(not(target_os = "emscripten"))]
    pub fn sleep_ms(ms: f64) {
        std::thread::sleep(std::time::Duration::from_secs_f64(ms / 1000.0));
    }

    #[cfg(not(target_os = "emscripten"))]
    pub fn now_ms() -> f64 {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1000.0
    }
    #[cfg(not(target_os = "emscripten"))]
    pub fn set_status(text: &str) {
        eprintln!("status: {text}");
    }
    #[cfg(not(target_os = "emscripten"))]
    pub fn emit(name: &str, detail: &str) {
        eprintln!("event: {name} {detail}");
    }
}

struct Args {
    file: Option<String>,
    connect: Option<SocketAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { file: None, connect: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--file" => args.file = Some(it.next().ok_or("--file needs a path")?),
            "--connect" => {
                let v = it.next().ok_or("--connect needs HOST:PORT")?;
                args.connect = Some(v.parse().map_err(|e| format!("--connect {v}: {e}"))?);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Checks the clock moves with real time: a 50 ms sleep must show as ≥ 45 ms.
///
/// Not std::time nor thread::sleep: under emscripten 3.1.6 they pass
/// `struct timespec` with Rust libc's 64-bit time_t to a C library whose
/// time_t is 32-bit, and get garbage (docs/browser.md).
fn check_clock() -> Result<String, String> {
    let before = host::now_ms();
    host::sleep_ms(50.0);
    let elapsed = host::now_ms() - before;
    if !(45.0..5000.0).contains(&elapsed) {
        return Err(format!("clock moved {elapsed:.1} ms over a 50 ms sleep"));
    }
    Ok(format!("clock ok: 50 ms sleep took {elapsed:.1} ms"))
}

fn read_file(path: &str) -> Result<String, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(format!(
        "{path}: {} bytes, fnv1a {:016x}, first line {:?}",
        data.len(),
        fnv1a(&data),
        String::from_utf8_lossy(first)
    ))
}

/// FNV-1a 64: a content fingerprint the tests recompute on the host.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Connects, sends a line, waits for it to come back.
///
/// Under emscripten the socket is a WebSocket owned by the main browser
/// thread: connect() answers EINPROGRESS, the connection opens later, and
/// reads return EAGAIN until data arrives. So this polls with short sleeps
/// -- the same time-slicing the emulator's run loop does -- while the main
/// thread's event loop delivers the WebSocket events. Deadlines use
/// host::now_ms, not Instant (see check_clock).
fn echo(addr: SocketAddr) -> Result<String, String> {
    let start = host::now_ms();
    let deadline = start + 10_000.0;
    let mut stream = connect_nonblocking(addr, deadline)?;
    let message = b"ping from netvm browser_demo\n";
    let mut written = 0;
    let mut echoed = Vec::new();
    while echoed.len() < message.len() {
        if host::now_ms() > deadline {
            return Err(format!("timed out: sent {written}, got back {:?}", String::from_utf8_lossy(&echoed)));
        }
        if written < message.len() {
            match stream.write(&message[written..]) {
                Ok(n) => written += n,
                Err(e) if transient(&e) => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(0) => return Err("peer closed before echoing".into()),
            Ok(n) => echoed.extend_from_slice(&buf[..n]),
            Err(e) if transient(&e) => host::sleep_ms(5.0),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    if echoed != message {
        return Err(format!("echo mismatch: {:?}", String::from_utf8_lossy(&echoed)));
    }
    Ok(format!("tcp ok: {addr} echoed {} bytes in {:.0} ms", echoed.len(), host::now_ms() - start))
}

/// A non-blocking connect, waiting for writability by polling with a zero
/// timeout (emscripten's poll() does not block on sockets).
fn connect_nonblocking(addr: SocketAddr, deadline: f64) -> Result<TcpStream, String> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else { return Err(format!("{addr}: only IPv4 is supported")) };
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // sockaddr_in is fully initialised and outlives the call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(format!("socket: {}", io::Error::last_os_error()));
        }
        let stream = TcpStream::from_raw_fd(fd);
        // Not TcpStream::set_nonblocking: that is ioctl(FIONBIO), which
        // emscripten 3.1.6 aborts on; fcntl is supported.
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(format!("fcntl O_NONBLOCK: {}", io::Error::last_os_error()));
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = v4.port().to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
        let rc = libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sa) as libc::socklen_t);
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(format!("connect {addr}: {e}"));
            }
        }
        loop {
            let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
            let n = libc::poll(&mut pfd, 1, 0);
            if n < 0 {
                return Err(format!("poll: {}", io::Error::last_os_error()));
            }
            if n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                return Err(format!("connect {addr}: refused or failed"));
            }
            if n > 0 && pfd.revents & libc::POLLOUT != 0 {
                return Ok(stream);
            }
            if host::now_ms() > deadline {
                return Err(format!("connect {addr}: timed out"));
            }
            host::sleep_ms(5.0);
        }
    }
}

/// emscripten's socket emulation reports a WebSocket that is still opening
/// as ENOTCONN or EAGAIN.
fn transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected | io::ErrorKind::Interrupted)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    host::set_status("browser_demo running");
    say(&format!("hello from Rust on {}", std::env::consts::OS));
    say(&check_clock()?);
    if let Some(path) = &args.file {
        say(&read_file(path)?);
    }
    if let Some(addr) = args.connect {
        say(&echo(addr)?);
    }
    say("type a line:");
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the terminal: {e}"))?;
    say(&format!("you typed {:?}", line.trim_end_matches(['\r', '\n'])));
    Ok(())
}

fn say(text: &str) {
    println!("browser_demo: {text}");
    let _ = io::stdout().flush();
}

fn main() {
    match run() {
        Ok(()) => {
            say("done");
            host::set_status("browser_demo done");
            host::emit("exit", "0");
        }
        Err(e) => {
            say(&format!("error: {e}"));
            host::set_status(&format!("browser_demo failed: {e}"));
            host::emit("exit", "1");
            std::process::exit(1);
        }
    }
}
