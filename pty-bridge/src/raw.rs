//! Raw mode: the settings of cfmakeraw(3), restored when the guard drops.

use std::io;
use std::os::fd::RawFd;

/// While alive, the terminal is in raw mode; dropping it restores the
/// settings found on entry.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub(crate) fn enter(fd: RawFd) -> io::Result<Self> {
        // SAFETY: termios is plain data, filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let raw = make_raw(saved);
        // SAFETY: a valid termios for a descriptor tcgetattr accepted.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        log::debug!("terminal fd {fd} in raw mode");
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the settings read on entry, for the same descriptor.
        if unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) } != 0 {
            log::warn!("cannot restore terminal settings: {}", io::Error::last_os_error());
        }
    }
}

/// cfmakeraw(3), spelled out (emscripten's libc lacks it): no input
/// translation (ICRNL would turn the guest's Enter into a different byte),
/// no output processing (the guest sends its own CR LF), no echo, no
/// canonical mode, no signal keys (ISIG: Ctrl-C must reach the guest as
/// 0x03), 8-bit characters, reads return as soon as one byte is there.
pub(crate) fn make_raw(mut t: libc::termios) -> libc::termios {
    t.c_iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IXON);
    t.c_oflag &= !libc::OPOST;
    t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
    t.c_cflag &= !(libc::CSIZE | libc::PARENB);
    t.c_cflag |= libc::CS8;
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_clears_line_discipline_and_signals() {
        // SAFETY: plain data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        t.c_iflag = libc::ICRNL | libc::IXON | libc::IUTF8;
        t.c_oflag = libc::OPOST | libc::ONLCR;
        t.c_lflag = libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN | libc::ECHOE;
        t.c_cflag = libc::CS7 | libc::PARENB | libc::CREAD;
        let r = make_raw(t);
        assert_eq!(r.c_iflag, libc::IUTF8);
        assert_eq!(r.c_oflag, libc::ONLCR);
        assert_eq!(r.c_lflag, libc::ECHOE);
        assert_eq!(r.c_cflag, libc::CS8 | libc::CREAD);
        assert_eq!((r.c_cc[libc::VMIN], r.c_cc[libc::VTIME]), (1, 0));
    }
}
