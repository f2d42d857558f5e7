//! 9P2000.L message encoding: checked decoding of T-messages into
//! [`Request`] values and encoding of replies.
//!
//! Layout per Linux include/net/9p/9p.h and the 9P2000.L protocol notes
//! (diod's protocol.md): every message is `size[4] type[1] tag[2] body`,
//! little-endian, strings as `len[2] bytes` (UTF-8). A declared size,
//! string length or element count that overruns the message is a
//! [`DecodeError`], never a panic or a large allocation.

use std::fmt;

/// Message type numbers (Linux include/net/9p/9p.h, `enum p9_msg_t`).
pub mod msg {
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const TLOPEN: u8 = 12;
    pub const TLCREATE: u8 = 14;
    pub const TSYMLINK: u8 = 16;
    pub const TMKNOD: u8 = 18;
    pub const TRENAME: u8 = 20;
    pub const TREADLINK: u8 = 22;
    pub const TGETATTR: u8 = 24;
    pub const TSETATTR: u8 = 26;
    pub const TXATTRWALK: u8 = 30;
    pub const TXATTRCREATE: u8 = 32;
    pub const TREADDIR: u8 = 40;
    pub const TFSYNC: u8 = 50;
    pub const TLOCK: u8 = 52;
    pub const TGETLOCK: u8 = 54;
    pub const TLINK: u8 = 70;
    pub const TMKDIR: u8 = 72;
    pub const TRENAMEAT: u8 = 74;
    pub const TUNLINKAT: u8 = 76;
    pub const TVERSION: u8 = 100;
    pub const TAUTH: u8 = 102;
    pub const TATTACH: u8 = 104;
    pub const TFLUSH: u8 = 108;
    pub const TWALK: u8 = 110;
    pub const TREAD: u8 = 116;
    pub const TWRITE: u8 = 118;
    pub const TCLUNK: u8 = 120;
    pub const TREMOVE: u8 = 122;
}

/// Size of the `size[4] type[1] tag[2]` header.
pub const HEADER_LEN: usize = 7;
/// Most names one Twalk may carry (9P MAXWELEM).
pub const MAX_WALK_ELEMS: usize = 16;

/// A T-message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or than a field needs.
    Truncated { need: usize, have: usize },
    /// The size field disagrees with the bytes received.
    BadSize { declared: u32, received: usize },
    /// A string is not UTF-8.
    NotUtf8,
    /// Twalk with more than [`MAX_WALK_ELEMS`] names.
    TooManyNames(u16),
    /// Bytes left over after the body.
    Trailing(usize),
    /// A message type we do not know (answered with EOPNOTSUPP).
    UnknownType(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { need, have } => write!(f, "truncated 9p message: need {need} bytes, have {have}"),
            DecodeError::BadSize { declared, received } => {
                write!(f, "9p size field {declared} does not match {received} bytes received")
            }
            DecodeError::NotUtf8 => write!(f, "9p string is not UTF-8"),
            DecodeError::TooManyNames(n) => write!(f, "Twalk with {n} names (max {MAX_WALK_ELEMS})"),
            DecodeError::Trailing(n) => write!(f, "{n} stray bytes after the 9p message body"),
            DecodeError::UnknownType(t) => write!(f, "unknown 9p message type {t}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over a message body that checks every read.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(DecodeError::Truncated { need: n, have });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| DecodeError::NotUtf8)
    }
    /// `count[4]` followed by that many bytes (Twrite data).
    pub fn data(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// A decoded T-message body. Field names follow diod's protocol.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Version { msize: u32, version: String },
    Auth { afid: u32 },
    Attach { fid: u32, afid: u32, uname: String, aname: String, n_uname: u32 },
    Flush { oldtag: u16 },
    Walk { fid: u32, newfid: u32, names: Vec<String> },
    Lopen { fid: u32, flags: u32 },
    Lcreate { fid: u32, name: String, flags: u32, mode: u32, gid: u32 },
    Read { fid: u32, offset: u64, count: u32 },
    Write { fid: u32, offset: u64, data: &'a [u8] },
    Clunk { fid: u32 },
    Remove { fid: u32 },
    Statfs { fid: u32 },
    Symlink { fid: u32, name: String, target: String, gid: u32 },
    Mknod { dfid: u32, name: String, mode: u32, major: u32, minor: u32, gid: u32 },
    Rename { fid: u32, dfid: u32, name: String },
    Readlink { fid: u32 },
    Getattr { fid: u32, request_mask: u64 },
    Setattr { fid: u32, attr: SetattrBody },
    Xattrwalk { fid: u32, newfid: u32, name: String },
    Xattrcreate { fid: u32, name: String, size: u64, flags: u32 },
    Readdir { fid: u32, offset: u64, count: u32 },
    Fsync { fid: u32, datasync: u32 },
    Lock { fid: u32, kind: u8, flags: u32, start: u64, length: u64, proc_id: u32, client_id: String },
    Getlock { fid: u32, kind: u8, start: u64, length: u64, proc_id: u32, client_id: String },
    Link { dfid: u32, fid: u32, name: String },
    Mkdir { dfid: u32, name: String, mode: u32, gid: u32 },
    Renameat { olddirfid: u32, oldname: String, newdirfid: u32, newname: String },
    Unlinkat { dirfid: u32, name: String, flags: u32 },
}

/// Tsetattr's body (`valid` says which fields count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetattrBody {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

/// A decoded message: its tag and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u8,
    pub tag: u16,
    pub body: Request<'a>,
}

/// Reads the header of `buf`: `(size, type, tag)`, checking `size` against
/// what was received.
pub fn decode_header(buf: &[u8]) -> Result<(usize, u8, u16), DecodeError> {
    let mut r = Reader::new(buf);
    let size = r.u32()?;
    let kind = r.u8()?;
    let tag = r.u16()?;
    if (size as usize) < HEADER_LEN || size as usize > buf.len() {
        return Err(DecodeError::BadSize { declared: size, received: buf.len() });
    }
    Ok((size as usize, kind, tag))
}

/// Decodes one T-message from `buf` (exactly one message; the virtio
/// transport carries one per chain, possibly followed by padding, so bytes
/// after `size` are ignored).
pub fn decode(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
    let (size, kind, tag) = decode_header(buf)?;
    let mut r = Reader::new(&buf[HEADER_LEN..size]);
    let body = decode_body(kind, &mut r)?;
    r.finish()?;
    Ok(Message { kind, tag, body })
}

fn decode_body<'a>(kind: u8, r: &mut Reader<'a>) -> Result<Request<'a>, DecodeError> {
    use msg::*;
    Ok(match kind {
        TVERSION => Request::Version { msize: r.u32()?, version: r.string()? },
        TAUTH => {
            let afid = r.u32()?;
            let _uname = r.string()?;
            let _aname = r.string()?;
            let _n_uname = r.u32()?;
            Request::Auth { afid }
        }
        TATTACH => {
            Request::Attach { fid: r.u32()?, afid: r.u32()?, uname: r.string()?, aname: r.string()?, n_uname: r.u32()? }
        }
        TFLUSH => Request::Flush { oldtag: r.u16()? },
        TWALK => {
            let fid = r.u32()?;
            let newfid = r.u32()?;
            let n = r.u16()?;
            if n as usize > MAX_WALK_ELEMS {
                return Err(DecodeError::TooManyNames(n));
            }
            let names = (0..n).map(|_| r.string()).collect::<Result<_, _>>()?;
            Request::Walk { fid, newfid, names }
        }
        TLOPEN => Request::Lopen { fid: r.u32()?, flags: r.u32()? },
        TLCREATE => {
            Request::Lcreate { fid: r.u32()?, name: r.string()?, flags: r.u32()?, mode: r.u32()?, gid: r.u32()? }
        }
        TREAD => Request::Read { fid: r.u32()?, offset: r.u64()?, count: r.u32()? },
        TWRITE => Request::Write { fid: r.u32()?, offset: r.u64()?, data: r.data()? },
        TCLUNK => Request::Clunk { fid: r.u32()? },
        TREMOVE => Request::Remove { fid: r.u32()? },
        TSTATFS => Request::Statfs { fid: r.u32()? },
        TSYMLINK => Request::Symlink { fid: r.u32()?, name: r.string()?, target: r.string()?, gid: r.u32()? },
        TMKNOD => Request::Mknod {
            dfid: r.u32()?,
            name: r.string()?,
            mode: r.u32()?,
            major: r.u32()?,
            minor: r.u32()?,
            gid: r.u32()?,
        },
        TRENAME => Request::Rename { fid: r.u32()?, dfid: r.u32()?, name: r.string()? },
        TREADLINK => Request::Readlink { fid: r.u32()? },
        TGETATTR => Request::Getattr { fid: r.u32()?, request_mask: r.u64()? },
        TSETATTR => Request::Setattr {
            fid: r.u32()?,
            attr: SetattrBody {
                valid: r.u32()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
                size: r.u64()?,
                atime_sec: r.u64()?,
                atime_nsec: r.u64()?,
                mtime_sec: r.u64()?,
                mtime_nsec: r.u64()?,
            },
        },
        TXATTRWALK => Request::Xattrwalk { fid: r.u32()?, newfid: r.u32()?, name: r.string()? },
        TXATTRCREATE => Request::Xattrcreate { fid: r.u32()?, name: r.string()?, size: r.u64()?, flags: r.u32()? },
        TREADDIR => Request::Readdir { fid: r.u32()?, offset: r.u64()?, count: r.u32()? },
        TFSYNC => Request::Fsync { fid: r.u32()?, datasync: r.u32()? },
        TLOCK => Request::Lock {
            fid: r.u32()?,
            kind: r.u8()?,
            flags: r.u32()?,
            start: r.u64()?,
            length: r.u64()?,
            proc_id: r.u32()?,
            client_id: r.string()?,
        },
        TGETLOCK => Request::Getlock {
            fid: r.u32()?,
            kind: r.u8()?,
            start: r.u64()?,
            length: r.u64()?,
            proc_id: r.u32()?,
            client_id: r.string()?,
        },
        TLINK => Request::Link { dfid: r.u32()?, fid: r.u32()?, name: r.string()? },
        TMKDIR => Request::Mkdir { dfid: r.u32()?, name: r.string()?, mode: r.u32()?, gid: r.u32()? },
        TRENAMEAT => {
            Request::Renameat { olddirfid: r.u32()?, oldname: r.string()?, newdirfid: r.u32()?, newname: r.string()? }
        }
        TUNLINKAT => Request::Unlinkat { dirfid: r.u32()?, name: r.string()?, flags: r.u32()? },
        other => return Err(DecodeError::UnknownType(other)),
    })
}

/// A qid: the server's identity for a file (type, version, path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Qid {
    pub kind: u8,
    pub version: u32,
    pub path: u64,
}

pub const QID_DIR: u8 = 0x80;
pub const QID_SYMLINK: u8 = 0x02;
pub const QID_FILE: u8 = 0x00;

/// Builds an R-message; [`Writer::finish`] fills in the size.
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a reply of type `kind` with `tag`.
    pub fn new(kind: u8, tag: u16) -> Writer {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0, 0, 0, 0, kind]);
        buf.extend_from_slice(&tag.to_le_bytes());
        Writer { buf }
    }
    pub fn u8(&mut self, v: u8) -> &mut Writer {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A string; names are at most NAME_MAX and targets at most PATH_MAX
    /// bytes, well under the u16 limit, but clamp anyway.
    pub fn string(&mut self, s: &str) -> &mut Writer {
        let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
        self.u16(bytes.len() as u16);
        self.buf.extend_from_slice(bytes);
        self
    }
    pub fn qid(&mut self, q: Qid) -> &mut Writer {
        self.u8(q.kind).u32(q.version).u64(q.path)
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        self.buf.extend_from_slice(b);
        self
    }
    /// Current length (to check against msize).
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn finish(mut self) -> Vec<u8> {
        let size = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&size.to_le_bytes());
        self.buf
    }
}

/// An Rlerror reply (`ecode[4]`, a Linux errno).
pub fn rlerror(tag: u16, errno: u32) -> Vec<u8> {
    let mut w = Writer::new(msg::RLERROR, tag);
    w.u32(errno);
    w.finish()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
