//! Drives a guest's serial console like a person at a terminal: wait for
//! text, type a line, read what a command printed.
//!
//! The console is any child process whose stdin/stdout carry the guest's
//! serial port (QEMU with `-serial stdio`, or `netvm -nographic`). Output is
//! collected by a reader thread; terminal escape sequences and carriage
//! returns are stripped before matching, because busybox `ash` writes a cursor
//! position query after every prompt.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    /// Everything the guest printed, escapes stripped.
    text: String,
    /// Raw bytes not yet turned into text (an escape sequence split by a read).
    pending: Vec<u8>,
    eof: bool,
}

/// A console session over a child process.
pub struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    /// Offset into `text` up to which output has been consumed by waits.
    cursor: usize,
    marker_seq: u32,
    name: String,
}

impl Console {
    /// Takes over a child spawned with piped stdin and stdout.
    pub fn new(name: &str, mut child: Child) -> Console {
        let stdout = child.stdout.take().expect("console child needs a piped stdout");
        let stdin = child.stdin.take().expect("console child needs a piped stdin");
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let reader_shared = shared.clone();
        let echo = std::env::var_os("NETVM_TEST_ECHO").is_some();
        std::thread::spawn(move || read_loop(stdout, reader_shared, echo));
        Console { child, stdin: Some(stdin), shared, cursor: 0, marker_seq: 0, name: name.to_string() }
    }

    /// Everything printed so far (escapes stripped).
    pub fn transcript(&self) -> String {
        self.shared.0.lock().unwrap().text.clone()
    }

    /// Waits until `needle` appears in output not yet consumed; consumes up to
    /// and including it and returns the text before it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        match self.try_wait_for(needle, timeout) {
            Ok(before) => before,
            Err(why) => panic!("{}: {why}\n--- console transcript ---\n{}", self.name, self.transcript()),
        }
    }

    /// Like [`wait_for`](Self::wait_for) but returns an error instead of panicking.
    pub fn try_wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.shared;
        let mut shared = lock.lock().unwrap();
        loop {
            if let Some(pos) = shared.text[self.cursor..].find(needle) {
                let start = self.cursor;
                self.cursor += pos + needle.len();
                return Ok(shared.text[start..start + pos].to_string());
            }
            if shared.eof {
                return Err(format!("console closed while waiting for {needle:?}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("timed out after {timeout:?} waiting for {needle:?}"));
            }
            shared = cvar.wait_timeout(shared, deadline - now).unwrap().0;
        }
    }

    /// Types `line` followed by Enter.
    pub fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Sends raw bytes to the console (e.g. a Ctrl-C).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("console stdin already closed");
        // Slow typing: a UART FIFO holds 16 bytes and the guest's tty may not
        // have drained it yet; a real person is slower still.
        for chunk in bytes.chunks(8) {
            stdin.write_all(chunk).and_then(|_| stdin.flush()).expect("write to console");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Runs a shell command and returns what it printed and its exit status.
    ///
    /// The command is followed by an `echo` of a marker built so that the
    /// typed line itself never matches it (the shell echoes what we type).
    pub fn run(&mut self, cmd: &str, timeout: Duration) -> (String, i32) {
        self.marker_seq += 1;
        let n = self.marker_seq;
        let echo = format!("\"@@\"\"{n}@@$?@@\"");
        self.send_line(&format!("{cmd}; echo {echo}"));
        let raw = self.wait_for(&format!("@@{n}@@"), timeout);
        let status = self.wait_for("@@", Duration::from_secs(5));
        let status = status.trim().parse().unwrap_or(-1);
        // What precedes the output is the prompt and our own echoed line.
        let out = match raw.find(&echo) {
            Some(i) => raw[i + echo.len()..].strip_prefix('\n').unwrap_or(&raw[i + echo.len()..]),
            None => &raw[..],
        };
        (out.trim_end_matches('\n').to_string(), status)
    }

    /// Runs a command and panics unless it exits 0; returns its output.
    pub fn run_ok(&mut self, cmd: &str, timeout: Duration) -> String {
        let (out, status) = self.run(cmd, timeout);
        if status != 0 {
            panic!(
                "{}: `{cmd}` exited {status}; output:\n{out}\n--- console transcript ---\n{}",
                self.name,
                self.transcript()
            );
        }
        out
    }

    /// Waits for the child to exit, killing it after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{} did not exit within {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_loop(mut stdout: impl Read, shared: Arc<(Mutex<Shared>, Condvar)>, echo: bool) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buf).unwrap_or(0);
        let (lock, cvar) = &*shared;
        let mut s = lock.lock().unwrap();
        if n == 0 {
            s.eof = true;
            cvar.notify_all();
            return;
        }
        if echo {
            let _ = std::io::stderr().write_all(&buf[..n]);
        }
        s.pending.extend_from_slice(&buf[..n]);
        let pending = std::mem::take(&mut s.pending);
        let (text, rest) = strip_escapes(&pending);
        s.text.push_str(&text);
        s.pending = rest.to_vec();
        cvar.notify_all();
    }
}

/// Removes CSI/OSC escape sequences and carriage returns. Returns the text and
/// any trailing bytes that may be the start of an unfinished sequence.
pub fn strip_escapes(bytes: &[u8]) -> (String, &[u8]) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1b => {
                let Some(&kind) = bytes.get(i + 1) else { break };
                let mut j = i + 2;
                match kind {
                    b'[' => {
                        // CSI: parameters and intermediates, then a final byte 0x40..=0x7e.
                        while j < bytes.len() && !(0x40..=0x7e).contains(&bytes[j]) {
                            j += 1;
                        }
                        if j >= bytes.len() {
                            break;
                        }
                        i = j + 1;
                    }
                    b']' => {
                        // OSC: ends with BEL or ESC \.
                        while j < bytes.len() && bytes[j] != 0x07 && bytes[j] != 0x1b {
                            j += 1;
                        }
                        if j >= bytes.len() {
                            break;
                        }
                        i = if bytes[j] == 0x07 { j + 1 } else { j + 2 };
                    }
                    _ => i += 2,
                }
            }
            b'\r' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Keep incomplete UTF-8 or escape tails for the next read.
    (String::from_utf8_lossy(&out).into_owned(), &bytes[i.min(bytes.len())..])
}

#[cfg(test)]
mod tests {
    use super::strip_escapes;

    #[test]
    fn strips_csi_and_cr() {
        let (t, rest) = strip_escapes(b"/ # \x1b[6n\r\nok\x1b[0;32mgreen\x1b[0m");
        assert_eq!(t, "/ # \nokgreen");
        assert!(rest.is_empty());
    }

    #[test]
    fn keeps_an_unfinished_sequence_for_later() {
        let (t, rest) = strip_escapes(b"abc\x1b[6");
        assert_eq!(t, "abc");
        assert_eq!(rest, b"\x1b[6");
    }
}
