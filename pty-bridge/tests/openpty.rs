//! Against a real pseudo-terminal (openpty): raw mode lets Ctrl-C and
//! pasted text through as bytes, the window size is read back, and the
//! settings are restored afterwards.

use std::os::fd::RawFd;

use netvm_pty_bridge::{Terminal, WinSize};

struct Pty {
    master: RawFd,
    slave: RawFd,
}

impl Pty {
    fn open() -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors; no name, termios or size.
        let rc = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        Pty { master, slave }
    }

    fn type_bytes(&self, data: &[u8]) {
        // SAFETY: valid buffer.
        let n = unsafe { libc::write(self.master, data.as_ptr().cast(), data.len()) };
        assert_eq!(n, data.len() as isize);
    }

    fn lflag(&self) -> libc::tcflag_t {
        // SAFETY: plain data filled by tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(self.slave, &mut t) }, 0);
        t.c_lflag
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: descriptors this test opened.
        unsafe {
            libc::close(self.master);
            libc::close(self.slave);
        }
    }
}

/// Reads until `want` bytes came or ~2 s passed.
fn read_n(term: &Terminal, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    for _ in 0..200 {
        let mut buf = [0u8; 64];
        let n = term.read_available(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        if got.len() >= want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    got
}

#[test]
fn raw_mode_passes_control_bytes_and_restores() {
    let pty = Pty::open();
    let term = Terminal::from_fds(pty.slave, pty.slave);
    assert!(term.is_tty());
    let before = pty.lflag();
    assert_ne!(before & libc::ICANON, 0, "a fresh pty starts canonical");
    {
        let _raw = term.raw_mode().unwrap();
        assert_eq!(pty.lflag() & (libc::ICANON | libc::ISIG | libc::ECHO), 0);
        // Ctrl-C, a pasted line with CR, and Ctrl-D: all plain bytes.
        pty.type_bytes(b"\x03ab\rcd\x04");
        assert_eq!(read_n(&term, 7), b"\x03ab\rcd\x04");
        // Nothing more: a non-blocking read says so.
        let mut buf = [0u8; 8];
        assert_eq!(term.read_available(&mut buf).unwrap(), 0);
    }
    assert_eq!(pty.lflag(), before, "settings restored on drop");
}

#[test]
fn window_size_follows_the_pty() {
    let pty = Pty::open();
    let term = Terminal::from_fds(pty.slave, pty.slave);
    assert_eq!(term.window_size().unwrap(), None, "unsized pty");
    let ws = libc::winsize { ws_row: 33, ws_col: 101, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: a valid winsize for TIOCSWINSZ on the master.
    assert_eq!(unsafe { libc::ioctl(pty.master, libc::TIOCSWINSZ, &ws) }, 0);
    assert_eq!(term.window_size().unwrap(), Some(WinSize { rows: 33, cols: 101 }));
}

#[test]
fn output_reaches_the_master() {
    let pty = Pty::open();
    let term = Terminal::from_fds(pty.slave, pty.slave);
    let _raw = term.raw_mode().unwrap();
    term.write_all(b"guest says hi\r\n").unwrap();
    let master = Terminal::from_fds(pty.master, pty.master);
    assert_eq!(read_n(&master, 15), b"guest says hi\r\n");
}

#[test]
fn a_pipe_is_not_a_tty() {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let term = Terminal::from_fds(fds[0], fds[1]);
    assert!(!term.is_tty());
    assert!(term.raw_mode().is_err());
    // Closed write end: end of input is an error, not "nothing yet".
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fds[1]) };
    let mut buf = [0u8; 4];
    assert_eq!(term.read_available(&mut buf).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fds[0]) };
}
