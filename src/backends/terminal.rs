//! The console terminal behind the serial port.
//!
//! [`Terminal`] is what the UART talks to. Natively that is stdin/stdout in
//! raw mode ([`StdioTerminal`]); in the browser it is xterm-pty. The QEMU
//! console escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A) is decoded by
//! [`EscapeDecoder`] so every terminal handles it the same way.

use std::io;

/// A terminal: bytes typed by the user, bytes to display.
pub trait Terminal {
    /// Moves typed bytes into `buf` without blocking; returns how many.
    fn read_input(&mut self, buf: &mut [u8]) -> usize;
    /// Displays guest output.
    fn write_output(&mut self, data: &[u8]) -> io::Result<()>;
}

/// A boxed terminal is a terminal, so wrappers such as [`EscapeFilter`]
/// take whichever one the host chose.
impl<T: Terminal + ?Sized> Terminal for Box<T> {
    fn read_input(&mut self, buf: &mut [u8]) -> usize {
        (**self).read_input(buf)
    }
    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        (**self).write_output(data)
    }
}

/// Ctrl-A, QEMU's mux escape character.
const CTRL_A: u8 = 0x01;

/// What the user asked for through the escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeAction {
    /// Ctrl-A x: end the emulator.
    Quit,
}

/// Decodes QEMU's Ctrl-A escapes out of a typed byte stream.
#[derive(Debug, Default)]
pub struct EscapeDecoder {
    after_escape: bool,
}

impl EscapeDecoder {
    /// Filters `input` in place, keeping the bytes meant for the guest;
    /// returns the action requested, if any (bytes after it are dropped).
    pub fn filter(&mut self, input: &mut Vec<u8>) -> Option<EscapeAction> {
        let mut out = Vec::with_capacity(input.len());
        let mut action = None;
        for &b in input.iter() {
            if self.after_escape {
                self.after_escape = false;
                match b {
                    b'x' | b'X' => {
                        action = Some(EscapeAction::Quit);
                        break;
                    }
                    CTRL_A => out.push(CTRL_A),
                    // Other QEMU mux commands (h, c, s, b, t) have no meaning here.
                    _ => {}
                }
            } else if b == CTRL_A {
                self.after_escape = true;
            } else {
                out.push(b);
            }
        }
        *input = out;
        action
    }
}

/// A terminal wrapper that takes QEMU's Ctrl-A escapes out of the input
/// before the guest sees it. The machine keeps a [`QuitFlag`] clone and
/// ends when it is set:
///
/// ```ignore
/// let term = EscapeFilter::new(StdioTerminal::new());
/// let quit = term.quit_flag();
/// let uart = Serial::new(irq, Box::new(term));
/// // in the run loop: if quit.is_set() { exit }
/// ```
pub struct EscapeFilter<T> {
    inner: T,
    decoder: EscapeDecoder,
    quit: QuitFlag,
    /// Filtered input not yet taken by the device.
    pending: Vec<u8>,
}

/// Set once the user typed Ctrl-A x. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct QuitFlag(std::rc::Rc<std::cell::Cell<bool>>);

impl QuitFlag {
    pub fn is_set(&self) -> bool {
        self.0.get()
    }
}

impl<T: Terminal> EscapeFilter<T> {
    pub fn new(inner: T) -> EscapeFilter<T> {
        EscapeFilter { inner, decoder: EscapeDecoder::default(), quit: QuitFlag::default(), pending: Vec::new() }
    }

    /// The flag this filter sets on Ctrl-A x.
    pub fn quit_flag(&self) -> QuitFlag {
        self.quit.clone()
    }
}

impl<T: Terminal> Terminal for EscapeFilter<T> {
    fn read_input(&mut self, buf: &mut [u8]) -> usize {
        if self.pending.len() < buf.len() && !self.quit.is_set() {
            let mut raw = vec![0u8; buf.len()];
            let n = self.inner.read_input(&mut raw);
            raw.truncate(n);
            if self.decoder.filter(&mut raw) == Some(EscapeAction::Quit) {
                self.quit.0.set(true);
            }
            self.pending.extend_from_slice(&raw);
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        n
    }

    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write_output(data)
    }
}

/// The process's own stdin/stdout. stdin is read by a thread so reads never
/// block the emulator; when stdin is a terminal it is put in raw mode
/// (restored on drop), so Ctrl-C reaches the guest as in QEMU `-nographic`.
#[cfg(not(target_os = "emscripten"))]
pub struct StdioTerminal {
    input: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

#[cfg(not(target_os = "emscripten"))]
impl StdioTerminal {
    pub fn new() -> StdioTerminal {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                use std::io::Read;
                let mut stdin = io::stdin();
                let mut buf = [0u8; 1024];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .expect("spawning the stdin reader thread");
        StdioTerminal {
            input: rx,
            pending: Vec::new(),
            #[cfg(unix)]
            saved: raw_mode(),
        }
    }
}

#[cfg(not(target_os = "emscripten"))]
impl Default for StdioTerminal {
    fn default() -> Self {
        StdioTerminal::new()
    }
}

/// Puts stdin in raw mode if it is a terminal; returns the settings to restore.
#[cfg(all(unix, not(target_os = "emscripten")))]
fn raw_mode() -> Option<libc::termios> {
    // SAFETY: plain termios calls on fd 0 with a zeroed, then filled, struct.
    unsafe {
        if libc::isatty(0) != 1 {
            return None;
        }
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let saved = t;
        libc::cfmakeraw(&mut t);
        // Keep output post-processing so host-side log lines stay readable.
        t.c_oflag |= libc::OPOST;
        if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
            return None;
        }
        Some(saved)
    }
}

#[cfg(all(unix, not(target_os = "emscripten")))]
impl Drop for StdioTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.saved.take() {
            // SAFETY: restores settings read from the same fd.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

#[cfg(not(target_os = "emscripten"))]
impl Terminal for StdioTerminal {
    fn read_input(&mut self, buf: &mut [u8]) -> usize {
        while self.pending.len() < buf.len() {
            match self.input.try_recv() {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        n
    }

    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut out = io::stdout().lock();
        out.write_all(data)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input from a byte script, output to a vector.
    struct Scripted(Vec<u8>, Vec<u8>);

    impl Terminal for Scripted {
        fn read_input(&mut self, buf: &mut [u8]) -> usize {
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            n
        }
        fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
            self.1.extend_from_slice(data);
            Ok(())
        }
    }

    #[test]
    fn escape_filter_sets_the_quit_flag() {
        let mut t = EscapeFilter::new(Scripted(b"echo\x01\x01\r\x01xignored".to_vec(), Vec::new()));
        let quit = t.quit_flag();
        let mut buf = [0u8; 4];
        assert_eq!(t.read_input(&mut buf), 4);
        assert_eq!(&buf, b"echo");
        assert!(!quit.is_set());
        let mut rest = [0u8; 64];
        let n = t.read_input(&mut rest);
        assert_eq!(&rest[..n], b"\x01\r");
        assert!(quit.is_set());
        assert_eq!(t.read_input(&mut rest), 0);
        t.write_output(b"out").unwrap();
        assert_eq!(t.inner.1, b"out");
    }

    #[test]
    fn ctrl_a_x_quits_and_ctrl_a_ctrl_a_passes_through() {
        let mut d = EscapeDecoder::default();
        let mut input = b"ls\x01\x01z".to_vec();
        assert_eq!(d.filter(&mut input), None);
        assert_eq!(input, b"ls\x01z");
        // The escape may be split across reads.
        let mut input = b"a\x01".to_vec();
        assert_eq!(d.filter(&mut input), None);
        assert_eq!(input, b"a");
        let mut input = b"xrest".to_vec();
        assert_eq!(d.filter(&mut input), Some(EscapeAction::Quit));
        assert_eq!(input, b"");
        let mut input = b"\x01hq".to_vec();
        assert_eq!(d.filter(&mut input), None);
        assert_eq!(input, b"q", "unknown escape commands are swallowed");
    }
}
