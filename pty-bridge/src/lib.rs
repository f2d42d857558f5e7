//! The terminal side of netvm's serial console: the host terminal (a real
//! tty natively, xterm.js through xterm-pty in the browser) carries the
//! guest's serial port byte for byte.
//!
//! For that the terminal must be in raw mode: no line editing, no echo, and
//! no signals, so Ctrl-C is the byte 0x03 for the guest's own line
//! discipline to turn into SIGINT, and pasted text arrives as typed bytes.
//! The window size is read with TIOCGWINSZ and changes are noticed through
//! SIGWINCH, so the emulator can pass them on to the guest.
//!
//! Under emscripten 3.1.6 the termios and window-size ioctls reach
//! xterm-pty through `js-lib/netvm-tty.js`; without it they are no-ops.

mod raw;
mod resize;

pub use raw::RawMode;
pub use resize::ResizeWatch;

use std::io;
use std::os::fd::RawFd;

/// The size of the terminal in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// A terminal given by its input and output descriptors (borrowed, not
/// closed on drop).
#[derive(Debug)]
pub struct Terminal {
    input: RawFd,
    output: RawFd,
}

impl Terminal {
    /// Standard input and output.
    pub fn stdio() -> Self {
        Terminal { input: libc::STDIN_FILENO, output: libc::STDOUT_FILENO }
    }

    /// Any pair of descriptors, e.g. both ends of an openpty() slave.
    pub fn from_fds(input: RawFd, output: RawFd) -> Self {
        Terminal { input, output }
    }

    /// Whether input is a terminal (else raw mode and sizes do not apply).
    pub fn is_tty(&self) -> bool {
        // SAFETY: isatty only inspects the descriptor.
        unsafe { libc::isatty(self.input) == 1 }
    }

    /// Switches input to raw mode until the guard is dropped.
    pub fn raw_mode(&self) -> io::Result<RawMode> {
        RawMode::enter(self.input)
    }

    /// The current window size, or None if the terminal does not report one
    /// (0 x 0, as a pipe or an unsized pty does).
    pub fn window_size(&self) -> io::Result<Option<WinSize>> {
        // SAFETY: winsize is plain data; TIOCGWINSZ writes exactly one.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::ioctl(self.output, libc::TIOCGWINSZ, &mut ws) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((ws.ws_row > 0 && ws.ws_col > 0).then_some(WinSize { rows: ws.ws_row, cols: ws.ws_col }))
    }

    /// Reads what input has now, without blocking: Ok(0) means nothing yet.
    /// End of input is reported as UnexpectedEof, so it is not mistaken for
    /// an idle terminal.
    pub fn read_available(&self, buf: &mut [u8]) -> io::Result<usize> {
        // A zero-timeout poll, then a read that cannot block. emscripten's
        // poll() never blocks for a timeout anyway; this keeps both the same.
        let mut pfd = libc::pollfd { fd: self.input, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(0) } else { Err(e) };
        }
        if n == 0 || pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return Ok(0);
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let got = unsafe { libc::read(self.input, buf.as_mut_ptr().cast(), buf.len()) };
        match got {
            0 if !buf.is_empty() => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "terminal input closed")),
            n if n >= 0 => Ok(n as usize),
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(e),
                }
            }
        }
    }

    /// Writes all of `data` to the output.
    pub fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // SAFETY: data is valid for data.len() bytes.
            let n = unsafe { libc::write(self.output, data.as_ptr().cast(), data.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            data = &data[n as usize..];
        }
        Ok(())
    }
}
