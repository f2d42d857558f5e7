//! A 9P2000.L file server over an [`FsBackend`].
//!
//! Requests are handled one at a time, synchronously, so Tflush never finds
//! anything in flight. The fid table is bounded: a guest that opens fids
//! without clunking them gets errors, not unbounded host memory.

use std::collections::HashMap;
use std::io;

use crate::backends::fs::{
    Attr, DirEntry, FileKind, FsBackend, FsFile, OpenFlags, SetAttr, SharePath, TimeSet, Timespec,
};

use super::errno::{self, linux_errno};
use super::wire::{self, msg, DecodeError, Message, Qid, Request, SetattrBody, Writer};

/// Largest msize we agree to. Linux's virtio transport caps msize near
/// 500 KiB (VIRTQUEUE_NUM pages); larger buys nothing.
pub const MAX_MSIZE: u32 = 512 * 1024;
/// Smallest msize that leaves room for a useful reply.
const MIN_MSIZE: u32 = 4096;
/// Header bytes of Rread/Rreaddir before data (size, type, tag, count):
/// Linux's P9_IOHDRSZ is 24 to cover Twrite too.
const IOHDRSZ: u32 = 24;
/// Most fids a guest may hold at once.
const MAX_FIDS: usize = 65536;
/// Most directory entries held in readdir snapshots across all fids; past
/// it, other fids' snapshots are dropped (and retaken on their next
/// readdir), so a guest opening many large directories cannot exhaust host
/// memory.
const MAX_CACHED_ENTRIES: usize = 1 << 20;
/// The "no fid" value (9P NOFID).
const NOFID: u32 = u32::MAX;
/// statfs type reported to the guest (Linux V9FS_MAGIC).
const V9FS_MAGIC: u32 = 0x0102_1997;

/// Linux open flags in Tlopen/Tlcreate (asm-generic/fcntl.h; 9P2000.L
/// carries Linux values, which the kernel's 9p client translates to).
const O_ACCMODE: u32 = 3;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
/// Tunlinkat flag (Linux AT_REMOVEDIR).
const AT_REMOVEDIR: u32 = 0x200;

/// Tsetattr `valid` bits (Linux include/net/9p/9p.h P9_ATTR_*).
const P9_ATTR_MODE: u32 = 1 << 0;
const P9_ATTR_UID: u32 = 1 << 1;
const P9_ATTR_GID: u32 = 1 << 2;
const P9_ATTR_SIZE: u32 = 1 << 3;
const P9_ATTR_ATIME: u32 = 1 << 4;
const P9_ATTR_MTIME: u32 = 1 << 5;
const P9_ATTR_ATIME_SET: u32 = 1 << 7;
const P9_ATTR_MTIME_SET: u32 = 1 << 8;
/// Rgetattr `valid`: the basic fields (P9_STATS_BASIC).
const P9_STATS_BASIC: u64 = 0x7ff;
/// Rlock status and Rgetlock type (P9_LOCK_SUCCESS, P9_LOCK_TYPE_UNLCK).
const P9_LOCK_SUCCESS: u8 = 0;
const P9_LOCK_TYPE_UNLCK: u8 = 2;

/// Directory entry type in Rreaddir (Linux DT_* values).
fn dirent_type(kind: FileKind) -> u8 {
    match kind {
        FileKind::Dir => 4,
        FileKind::File => 8,
        FileKind::Symlink => 10,
        FileKind::Other => 0,
    }
}

fn qid_kind(kind: FileKind) -> u8 {
    match kind {
        FileKind::Dir => wire::QID_DIR,
        FileKind::Symlink => wire::QID_SYMLINK,
        _ => wire::QID_FILE,
    }
}

fn qid_of(attr: &Attr) -> Qid {
    Qid { kind: qid_kind(attr.kind), version: 0, path: attr.ino }
}

struct Fid {
    path: SharePath,
    /// The guest uid this fid acts for (Tattach n_uname).
    uid: u32,
    file: Option<Box<dyn FsFile>>,
    writable: bool,
    /// Snapshot of a directory's entries, taken at readdir offset 0.
    listing: Option<Vec<DirEntry>>,
    /// Whether the fid was opened on a directory.
    is_dir: bool,
}

impl Fid {
    fn new(path: SharePath, uid: u32) -> Fid {
        Fid { path, uid, file: None, writable: false, listing: None, is_dir: false }
    }
}

/// An error answer: the errno sent in Rlerror.
type Reply<T> = Result<T, u32>;

fn io_err(context: &str, e: io::Error) -> u32 {
    log::debug!("9p: {context}: {e}");
    linux_errno(&e)
}

/// The server state for one mount.
pub struct Server {
    fs: Box<dyn FsBackend>,
    msize: u32,
    fids: HashMap<u32, Fid>,
    warnings: crate::devices::WarnBudget,
}

impl Server {
    pub fn new(fs: Box<dyn FsBackend>) -> Server {
        Server { fs, msize: MIN_MSIZE, fids: HashMap::new(), warnings: Default::default() }
    }

    /// The negotiated maximum message size.
    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// Handles one T-message and returns the R-message, which is never larger
    /// than `msize` (or `reply_limit`, if smaller: the room the transport has).
    pub fn handle(&mut self, request: &[u8], reply_limit: usize) -> Vec<u8> {
        let limit = reply_limit.min(self.msize as usize) as u32;
        match wire::decode(request) {
            Ok(m) => {
                let tag = m.tag;
                match self.dispatch(m, limit) {
                    Ok(reply) => reply,
                    Err(errno) => wire::rlerror(tag, errno),
                }
            }
            Err(e) => {
                log::debug!("9p: {e}");
                // Answer with the tag when the header made it.
                let tag = wire::decode_header(request).map(|(_, _, tag)| tag).unwrap_or(u16::MAX);
                let errno = match e {
                    DecodeError::UnknownType(_) => errno::EOPNOTSUPP,
                    _ => errno::EPROTO,
                };
                wire::rlerror(tag, errno)
            }
        }
    }

    fn fid(&self, fid: u32) -> Reply<&Fid> {
        self.fids.get(&fid).ok_or(errno::EBADF)
    }

    fn fid_mut(&mut self, fid: u32) -> Reply<&mut Fid> {
        self.fids.get_mut(&fid).ok_or(errno::EBADF)
    }

    fn insert_fid(&mut self, id: u32, fid: Fid) -> Reply<()> {
        if id == NOFID {
            return Err(errno::EBADF);
        }
        if !self.fids.contains_key(&id) && self.fids.len() >= MAX_FIDS {
            log::log!(self.warnings.level(), "9p: guest holds {MAX_FIDS} fids; refusing more");
            return Err(errno::ENOMEM);
        }
        self.fids.insert(id, fid);
        Ok(())
    }

    fn getattr_path(&self, path: &SharePath) -> Reply<Attr> {
        self.fs.getattr(path).map_err(|e| io_err("getattr", e))
    }

    fn dispatch(&mut self, m: Message<'_>, limit: u32) -> Reply<Vec<u8>> {
        let tag = m.tag;
        let reply = |kind: u8| Writer::new(kind + 1, tag);
        Ok(match m.body {
            Request::Version { msize, version } => {
                // The server may lower msize, never raise it; below 4 KiB
                // nothing useful fits (QEMU refuses the same way).
                if msize < MIN_MSIZE {
                    return Err(errno::EMSGSIZE);
                }
                // A new session: every fid is clunked.
                self.fids.clear();
                self.msize = msize.min(MAX_MSIZE);
                let v = if version == "9P2000.L" { "9P2000.L" } else { "unknown" };
                let mut w = reply(m.kind);
                w.u32(self.msize).string(v);
                w.finish()
            }
            // No authentication: 9P2000.L clients that try Tauth (diod's
            // libnpclient) take ENOENT to mean "not required" and go on to
            // attach with afid NOFID; Linux's v9fs never sends Tauth.
            Request::Auth { .. } => return Err(errno::ENOENT),
            Request::Attach { fid, afid, n_uname, .. } => {
                if afid != NOFID {
                    return Err(errno::EINVAL);
                }
                if self.fids.contains_key(&fid) {
                    return Err(errno::EBADF);
                }
                let attr = self.getattr_path(&SharePath::root())?;
                self.insert_fid(fid, Fid::new(SharePath::root(), n_uname))?;
                let mut w = reply(m.kind);
                w.qid(qid_of(&attr));
                w.finish()
            }
            Request::Flush { .. } => reply(m.kind).finish(),
            Request::Walk { fid, newfid, names } => self.walk(tag, fid, newfid, &names)?,
            Request::Lopen { fid, flags } => {
                let f = self.fid(fid)?;
                if f.file.is_some() {
                    return Err(errno::EBADF);
                }
                let path = f.path.clone();
                let attr = self.getattr_path(&path)?;
                let open = open_flags(flags);
                if attr.kind == FileKind::Dir && open.write {
                    return Err(errno::EISDIR);
                }
                let file = self.fs.open(&path, open).map_err(|e| io_err("lopen", e))?;
                let f = self.fid_mut(fid)?;
                f.file = Some(file);
                f.writable = open.write;
                f.is_dir = attr.kind == FileKind::Dir;
                f.listing = None;
                let mut w = reply(m.kind);
                w.qid(qid_of(&attr)).u32(self.msize - IOHDRSZ);
                w.finish()
            }
            Request::Lcreate { fid, name, flags, mode, gid } => {
                let f = self.fid(fid)?;
                if f.file.is_some() {
                    return Err(errno::EBADF);
                }
                let (dir, uid) = (f.path.clone(), f.uid);
                let path = dir.join(&name).map_err(|e| io_err("lcreate", e))?;
                let open = open_flags(flags);
                let file = self.fs.create(&dir, &name, open, mode).map_err(|e| io_err("lcreate", e))?;
                self.chown_new(&path, uid, gid);
                let attr = self.getattr_path(&path)?;
                let f = self.fid_mut(fid)?;
                f.path = path;
                f.file = Some(file);
                f.writable = true;
                f.is_dir = false;
                let mut w = reply(m.kind);
                w.qid(qid_of(&attr)).u32(self.msize - IOHDRSZ);
                w.finish()
            }
            Request::Read { fid, offset, count } => {
                let f = self.fid_mut(fid)?;
                if f.is_dir {
                    return Err(errno::EISDIR);
                }
                let file = f.file.as_mut().ok_or(errno::EBADF)?;
                let count = count.min(limit.saturating_sub(11));
                let mut data = vec![0u8; count as usize];
                let n = file.read_at(offset, &mut data).map_err(|e| io_err("read", e))?;
                let mut w = reply(m.kind);
                w.u32(n as u32).bytes(&data[..n]);
                w.finish()
            }
            Request::Write { fid, offset, data } => {
                let f = self.fid_mut(fid)?;
                if !f.writable {
                    return Err(errno::EBADF);
                }
                let file = f.file.as_mut().ok_or(errno::EBADF)?;
                let n = file.write_at(offset, data).map_err(|e| io_err("write", e))?;
                let mut w = reply(m.kind);
                w.u32(n as u32);
                w.finish()
            }
            Request::Clunk { fid } => {
                self.fids.remove(&fid).ok_or(errno::EBADF)?;
                reply(m.kind).finish()
            }
            Request::Remove { fid } => {
                // Tremove clunks the fid whether or not the removal works.
                let f = self.fids.remove(&fid).ok_or(errno::EBADF)?;
                let name = f.path.file_name().ok_or(errno::EBUSY)?.to_string();
                let is_dir = self.getattr_path(&f.path)?.kind == FileKind::Dir;
                self.fs.remove(&f.path.parent(), &name, is_dir).map_err(|e| io_err("remove", e))?;
                reply(m.kind).finish()
            }
            Request::Statfs { fid } => {
                let path = self.fid(fid)?.path.clone();
                let st = self.fs.statfs(&path).map_err(|e| io_err("statfs", e))?;
                let mut w = reply(m.kind);
                w.u32(V9FS_MAGIC)
                    .u32(st.bsize)
                    .u64(st.blocks)
                    .u64(st.bfree)
                    .u64(st.bavail)
                    .u64(st.files)
                    .u64(st.ffree)
                    .u64(st.fsid)
                    .u32(st.namelen);
                w.finish()
            }
            Request::Symlink { fid, name, target, gid } => {
                let f = self.fid(fid)?;
                let (dir, uid) = (f.path.clone(), f.uid);
                let path = dir.join(&name).map_err(|e| io_err("symlink", e))?;
                self.fs.symlink(&dir, &name, &target).map_err(|e| io_err("symlink", e))?;
                self.chown_new(&path, uid, gid);
                let attr = self.getattr_path(&path)?;
                let mut w = reply(m.kind);
                w.qid(qid_of(&attr));
                w.finish()
            }
            Request::Mknod { .. } => return Err(errno::EOPNOTSUPP),
            Request::Rename { fid, dfid, name } => {
                let from = self.fid(fid)?.path.clone();
                let to = self.fid(dfid)?.path.join(&name).map_err(|e| io_err("rename", e))?;
                self.rename(&from, &to)?;
                reply(m.kind).finish()
            }
            Request::Readlink { fid } => {
                let path = self.fid(fid)?.path.clone();
                let target = self.fs.readlink(&path).map_err(|e| io_err("readlink", e))?;
                let mut w = reply(m.kind);
                w.string(&target);
                w.finish()
            }
            Request::Getattr { fid, .. } => {
                let f = self.fid(fid)?;
                // An open file answers from its handle, so fstat works on a
                // file that was unlinked while open (POSIX temp-file idiom).
                let a = match &f.file {
                    Some(file) => file.getattr().map_err(|e| io_err("getattr", e))?,
                    None => self.getattr_path(&f.path.clone())?,
                };
                let mut w = reply(m.kind);
                w.u64(P9_STATS_BASIC)
                    .qid(qid_of(&a))
                    .u32(a.mode)
                    .u32(a.uid)
                    .u32(a.gid)
                    .u64(a.nlink)
                    .u64(a.rdev)
                    .u64(a.size)
                    .u64(a.blksize)
                    .u64(a.blocks);
                for t in [a.atime, a.mtime, a.ctime, Timespec::default()] {
                    w.u64(t.sec as u64).u64(t.nsec as u64);
                }
                // gen, data_version: not tracked.
                w.u64(0).u64(0);
                w.finish()
            }
            Request::Setattr { fid, attr } => {
                let path = self.fid(fid)?.path.clone();
                self.fs.setattr(&path, &setattr_changes(&attr)).map_err(|e| io_err("setattr", e))?;
                reply(m.kind).finish()
            }
            // No extended attributes: Linux treats EOPNOTSUPP as "none".
            Request::Xattrwalk { .. } | Request::Xattrcreate { .. } => return Err(errno::EOPNOTSUPP),
            Request::Readdir { fid, offset, count } => {
                self.readdir(tag, fid, offset, count.min(limit.saturating_sub(11)))?
            }
            Request::Fsync { fid, datasync } => {
                let f = self.fid_mut(fid)?;
                let file = f.file.as_mut().ok_or(errno::EBADF)?;
                file.sync(datasync != 0).map_err(|e| io_err("fsync", e))?;
                reply(m.kind).finish()
            }
            // Like QEMU's 9p server, locks are granted without host locking:
            // the share has one client, and the guest kernel arbitrates
            // between its own processes.
            Request::Lock { fid, .. } => {
                self.fid(fid)?;
                let mut w = reply(m.kind);
                w.u8(P9_LOCK_SUCCESS);
                w.finish()
            }
            Request::Getlock { fid, start, length, proc_id, client_id, .. } => {
                self.fid(fid)?;
                let mut w = reply(m.kind);
                w.u8(P9_LOCK_TYPE_UNLCK).u64(start).u64(length).u32(proc_id).string(&client_id);
                w.finish()
            }
            Request::Link { dfid, fid, name } => {
                let dir = self.fid(dfid)?.path.clone();
                let existing = self.fid(fid)?.path.clone();
                self.fs.link(&existing, &dir, &name).map_err(|e| io_err("link", e))?;
                reply(m.kind).finish()
            }
            Request::Mkdir { dfid, name, mode, gid } => {
                let f = self.fid(dfid)?;
                let (dir, uid) = (f.path.clone(), f.uid);
                let path = dir.join(&name).map_err(|e| io_err("mkdir", e))?;
                self.fs.mkdir(&dir, &name, mode).map_err(|e| io_err("mkdir", e))?;
                self.chown_new(&path, uid, gid);
                let attr = self.getattr_path(&path)?;
                let mut w = reply(m.kind);
                w.qid(qid_of(&attr));
                w.finish()
            }
            Request::Renameat { olddirfid, oldname, newdirfid, newname } => {
                let from = self.fid(olddirfid)?.path.join(&oldname).map_err(|e| io_err("renameat", e))?;
                let to = self.fid(newdirfid)?.path.join(&newname).map_err(|e| io_err("renameat", e))?;
                self.rename(&from, &to)?;
                reply(m.kind).finish()
            }
            Request::Unlinkat { dirfid, name, flags } => {
                let dir = self.fid(dirfid)?.path.clone();
                self.fs.remove(&dir, &name, flags & AT_REMOVEDIR != 0).map_err(|e| io_err("unlinkat", e))?;
                reply(m.kind).finish()
            }
        })
    }

    fn walk(&mut self, tag: u16, fid: u32, newfid: u32, names: &[String]) -> Reply<Vec<u8>> {
        let f = self.fid(fid)?;
        // walk(5) says an open fid must not be walked; clients walk from
        // open directories anyway (diod's diodls stats each entry that way)
        // and QEMU allows it, so only moving the open fid itself is refused.
        if f.file.is_some() && newfid == fid && !names.is_empty() {
            return Err(errno::EBADF);
        }
        if newfid != fid && self.fids.contains_key(&newfid) {
            return Err(errno::EBADF);
        }
        let uid = f.uid;
        let mut path = f.path.clone();
        let mut qids = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let next = if name == ".." {
                // `..` of the root is the root: the walk can never leave the share.
                path.parent()
            } else if name == "." {
                // Readdir lists "." (as QEMU's does); walking it stays put.
                path.clone()
            } else {
                match path.join(name) {
                    Ok(p) => p,
                    Err(e) if i == 0 => return Err(io_err("walk", e)),
                    Err(_) => break,
                }
            };
            match self.fs.getattr(&next) {
                Ok(attr) => qids.push(qid_of(&attr)),
                // The first element failing is an error; later ones end the
                // walk early with the qids so far (9P walk semantics).
                Err(e) if i == 0 => return Err(io_err("walk", e)),
                Err(_) => break,
            }
            path = next;
        }
        if qids.len() == names.len() {
            self.insert_fid(newfid, Fid::new(path, uid))?;
        }
        let mut w = Writer::new(msg::TWALK + 1, tag);
        w.u16(qids.len() as u16);
        for q in qids {
            w.qid(q);
        }
        Ok(w.finish())
    }

    fn readdir(&mut self, tag: u16, fid: u32, offset: u64, count: u32) -> Reply<Vec<u8>> {
        let f = self.fid(fid)?;
        if f.file.is_none() || !f.is_dir {
            return Err(errno::EBADF);
        }
        let path = f.path.clone();
        if offset == 0 || f.listing.is_none() {
            // A fresh listing at offset 0; later offsets index into it, so a
            // directory changing between calls neither repeats nor skips.
            let mut listing = Vec::new();
            let me = self.getattr_path(&path)?;
            let parent = self.getattr_path(&path.parent())?;
            listing.push(DirEntry { name: ".".into(), ino: me.ino, kind: FileKind::Dir });
            listing.push(DirEntry { name: "..".into(), ino: parent.ino, kind: FileKind::Dir });
            listing.extend(self.fs.read_dir(&path).map_err(|e| io_err("readdir", e))?);
            let cached: usize =
                self.fids.iter().filter(|(id, _)| **id != fid).filter_map(|(_, f)| f.listing.as_ref()).map(Vec::len).sum();
            if cached + listing.len() > MAX_CACHED_ENTRIES {
                log::debug!("9p: {cached} cached directory entries; dropping other snapshots");
                for f in self.fids.values_mut() {
                    f.listing = None;
                }
            }
            self.fid_mut(fid)?.listing = Some(listing);
        }
        let listing = self.fid(fid)?.listing.as_ref().ok_or(errno::EBADF)?;
        let mut w = Writer::new(msg::TREADDIR + 1, tag);
        w.u32(0);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let budget = count as usize;
        let mut used = 0usize;
        for (i, entry) in listing.iter().enumerate().skip(start) {
            // qid[13] offset[8] type[1] name[s]
            let size = 13 + 8 + 1 + 2 + entry.name.len();
            if used + size > budget {
                break;
            }
            let qid = Qid { kind: qid_kind(entry.kind), version: 0, path: entry.ino };
            w.qid(qid).u64(i as u64 + 1).u8(dirent_type(entry.kind)).string(&entry.name);
            used += size;
        }
        let mut out = w.finish();
        out[7..11].copy_from_slice(&(used as u32).to_le_bytes());
        Ok(out)
    }

    fn rename(&mut self, from: &SharePath, to: &SharePath) -> Reply<()> {
        self.fs.rename(from, to).map_err(|e| io_err("rename", e))?;
        // Fids below the old name now live below the new one.
        for f in self.fids.values_mut() {
            if let Some(p) = f.path.rebase(from, to) {
                f.path = p;
            }
        }
        Ok(())
    }

    /// Gives a new file the creating user's ownership, as QEMU's passthrough
    /// security model does; a host that refuses (not root) keeps its own.
    fn chown_new(&self, path: &SharePath, uid: u32, gid: u32) {
        let changes = SetAttr { uid: Some(uid), gid: Some(gid), ..Default::default() };
        if let Err(e) = self.fs.setattr(path, &changes) {
            log::debug!("9p: cannot give {path:?} owner {uid}:{gid}: {e}");
        }
    }
}

fn open_flags(flags: u32) -> OpenFlags {
    let acc = flags & O_ACCMODE;
    OpenFlags {
        read: acc != O_WRONLY,
        write: acc == O_WRONLY || acc == O_RDWR,
        append: flags & O_APPEND != 0,
        truncate: flags & O_TRUNC != 0,
        exclusive: flags & O_EXCL != 0,
    }
}

fn setattr_changes(a: &SetattrBody) -> SetAttr {
    let time = |set: bool, explicit: bool, sec: u64, nsec: u64| {
        set.then(|| {
            if explicit {
                TimeSet::At(Timespec { sec: sec as i64, nsec: nsec.min(999_999_999) as u32 })
            } else {
                TimeSet::Now
            }
        })
    };
    SetAttr {
        mode: (a.valid & P9_ATTR_MODE != 0).then_some(a.mode),
        uid: (a.valid & P9_ATTR_UID != 0).then_some(a.uid),
        gid: (a.valid & P9_ATTR_GID != 0).then_some(a.gid),
        size: (a.valid & P9_ATTR_SIZE != 0).then_some(a.size),
        atime: time(a.valid & P9_ATTR_ATIME != 0, a.valid & P9_ATTR_ATIME_SET != 0, a.atime_sec, a.atime_nsec),
        mtime: time(a.valid & P9_ATTR_MTIME != 0, a.valid & P9_ATTR_MTIME_SET != 0, a.mtime_sec, a.mtime_nsec),
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
