//! A directory tree for the 9p server: paths inside a share, never outside.
//!
//! The 9p server names files by [`SharePath`], a list of validated names
//! relative to the share root: no `/`, no `..`, no NUL can appear in one,
//! so a path cannot climb out lexically. Symlinks are the other way out;
//! [`HostDir`] never follows one on the host: every directory on the way to
//! a file is checked with `lstat` to be a real directory, and files are
//! opened with `O_NOFOLLOW` (QEMU's `local` backend resolves with openat +
//! O_NOFOLLOW for the same reason). A guest reads a symlink's target with
//! readlink and resolves it in its own namespace, which is how Linux's 9p
//! client works anyway.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirEntryExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest name accepted in a path (Linux NAME_MAX).
pub const NAME_MAX: usize = 255;

/// A path inside the share, relative to its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharePath {
    names: Vec<String>,
}

/// Checks that `name` can be one component of a path inside the share.
pub fn validate_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid file name {name:?}")));
    }
    if name.len() > NAME_MAX {
        return Err(errno(libc::ENAMETOOLONG));
    }
    Ok(())
}

impl SharePath {
    /// The share root.
    pub fn root() -> SharePath {
        SharePath::default()
    }

    /// `self/name`, after validating `name`.
    pub fn join(&self, name: &str) -> io::Result<SharePath> {
        validate_name(name)?;
        let mut names = self.names.clone();
        names.push(name.to_string());
        Ok(SharePath { names })
    }

    /// The containing directory; the root is its own parent (as `/..` is `/`).
    pub fn parent(&self) -> SharePath {
        let mut names = self.names.clone();
        names.pop();
        SharePath { names }
    }

    /// Last component, `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.names.last().map(String::as_str)
    }

    pub fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &SharePath) -> bool {
        self.names.starts_with(&other.names)
    }

    /// `self` with the prefix `from` replaced by `to` (after a rename).
    pub fn rebase(&self, from: &SharePath, to: &SharePath) -> Option<SharePath> {
        let rest = self.names.strip_prefix(from.names.as_slice())?;
        let mut names = to.names.clone();
        names.extend_from_slice(rest);
        Some(SharePath { names })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// A timestamp as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

/// File attributes, as `lstat` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub kind: FileKind,
    /// Inode number: stable identity for 9p qids.
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub kind: FileKind,
}

/// A new value for a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(Timespec),
}

/// Attribute changes; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

/// Filesystem statistics (statfs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatFs {
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub namelen: u32,
}

/// How to open a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenFlags {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    /// With `create`: fail if the file exists (O_EXCL).
    pub exclusive: bool,
}

/// An open file.
pub trait FsFile {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<usize>;
    fn sync(&mut self, data_only: bool) -> io::Result<()>;
    /// Attributes of the open file (still valid after it was unlinked).
    fn getattr(&self) -> io::Result<Attr>;
}

/// A directory tree served over 9p.
pub trait FsBackend {
    /// Attributes of `path` itself (a symlink is not followed).
    fn getattr(&self, path: &SharePath) -> io::Result<Attr>;
    /// Opens a regular file or a directory (for reading entries). Fails with
    /// ELOOP on a symlink.
    fn open(&self, path: &SharePath, flags: OpenFlags) -> io::Result<Box<dyn FsFile>>;
    /// Creates `dir/name` with permission bits `mode` (failing if it exists
    /// when `flags.exclusive`) and opens it. An existing symlink there is
    /// never followed.
    fn create(&self, dir: &SharePath, name: &str, flags: OpenFlags, mode: u32) -> io::Result<Box<dyn FsFile>>;
    fn read_dir(&self, path: &SharePath) -> io::Result<Vec<DirEntry>>;
    fn mkdir(&self, dir: &SharePath, name: &str, mode: u32) -> io::Result<()>;
    fn symlink(&self, dir: &SharePath, name: &str, target: &str) -> io::Result<()>;
    /// Hard link `dir/name` to `existing`.
    fn link(&self, existing: &SharePath, dir: &SharePath, name: &str) -> io::Result<()>;
    fn readlink(&self, path: &SharePath) -> io::Result<String>;
    /// Removes `dir/name`, which must be a directory iff `is_dir`.
    fn remove(&self, dir: &SharePath, name: &str, is_dir: bool) -> io::Result<()>;
    fn rename(&self, from: &SharePath, to: &SharePath) -> io::Result<()>;
    fn setattr(&self, path: &SharePath, changes: &SetAttr) -> io::Result<()>;
    fn statfs(&self, path: &SharePath) -> io::Result<StatFs>;
}

/// A host directory as the share (`-virtfs local,path=...`).
pub struct HostDir {
    root: PathBuf,
}

/// An error with an errno the 9p server passes to the guest as is. `libc`
/// gives the host's numbering (Linux and emscripten differ); the 9p layer
/// maps it to Linux's.
fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl HostDir {
    /// Serves the directory `root` (which must exist).
    pub fn new(root: &Path) -> io::Result<HostDir> {
        let root =
            root.canonicalize().map_err(|e| io::Error::new(e.kind(), format!("9p share {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("9p share {} is not a directory", root.display()),
            ));
        }
        Ok(HostDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Host path of a directory inside the share, checking that it and every
    /// directory above it is a real directory, not a symlink.
    fn dir_path(&self, dir: &SharePath) -> io::Result<PathBuf> {
        let mut host = self.root.clone();
        for name in dir.names() {
            host.push(name);
            let meta = fs::symlink_metadata(&host)?;
            if meta.file_type().is_symlink() {
                return Err(errno(libc::ELOOP));
            }
            if !meta.is_dir() {
                return Err(errno(libc::ENOTDIR));
            }
        }
        Ok(host)
    }

    /// Host path of `path` whose parents are checked; the last component is
    /// not (it may be a symlink; callers must not follow it).
    fn entry_path(&self, path: &SharePath) -> io::Result<PathBuf> {
        match path.file_name() {
            None => Ok(self.root.clone()),
            Some(name) => Ok(self.dir_path(&path.parent())?.join(name)),
        }
    }

    fn open_host(host: &Path, flags: OpenFlags, create_mode: Option<u32>) -> io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.read(flags.read || !flags.write)
            .write(flags.write && !flags.append)
            .append(flags.append)
            .truncate(flags.truncate && flags.write)
            .custom_flags(libc::O_NOFOLLOW);
        if let Some(mode) = create_mode {
            opts.create(true).create_new(flags.exclusive).mode(mode & 0o7777);
        }
        opts.open(host)
    }
}

fn kind_of(ft: fs::FileType) -> FileKind {
    if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn attr_of(meta: &fs::Metadata) -> Attr {
    let ts = |sec: i64, nsec: i64| Timespec { sec, nsec: nsec.clamp(0, 999_999_999) as u32 };
    Attr {
        kind: kind_of(meta.file_type()),
        ino: meta.ino(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        nlink: meta.nlink(),
        rdev: meta.rdev(),
        size: meta.size(),
        blksize: meta.blksize(),
        blocks: meta.blocks(),
        atime: ts(meta.atime(), meta.atime_nsec()),
        mtime: ts(meta.mtime(), meta.mtime_nsec()),
        ctime: ts(meta.ctime(), meta.ctime_nsec()),
    }
}

fn system_time(t: TimeSet) -> SystemTime {
    match t {
        TimeSet::Now => SystemTime::now(),
        TimeSet::At(ts) if ts.sec >= 0 => UNIX_EPOCH + Duration::new(ts.sec as u64, ts.nsec),
        TimeSet::At(ts) => UNIX_EPOCH - Duration::from_secs(ts.sec.unsigned_abs()),
    }
}

/// An open host file or directory.
struct HostFile {
    file: File,
}

impl FsFile for HostFile {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.seek(SeekFrom::Start(offset))?;
        let mut done = 0;
        // A short read in the middle of a file would look like EOF to the guest.
        while done < buf.len() {
            match self.file.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(data)?;
        Ok(data.len())
    }
    fn sync(&mut self, data_only: bool) -> io::Result<()> {
        if data_only {
            self.file.sync_data()
        } else {
            self.file.sync_all()
        }
    }
    fn getattr(&self) -> io::Result<Attr> {
        Ok(attr_of(&self.file.metadata()?))
    }
}

impl FsBackend for HostDir {
    fn getattr(&self, path: &SharePath) -> io::Result<Attr> {
        Ok(attr_of(&fs::symlink_metadata(self.entry_path(path)?)?))
    }

    fn open(&self, path: &SharePath, flags: OpenFlags) -> io::Result<Box<dyn FsFile>> {
        let host = self.entry_path(path)?;
        let meta = fs::symlink_metadata(&host)?;
        if meta.file_type().is_symlink() {
            return Err(errno(libc::ELOOP));
        }
        if !meta.is_dir() && !meta.is_file() {
            // FIFOs and device nodes: opening one can block the emulator
            // forever (a FIFO without a writer) or reach host hardware.
            return Err(errno(libc::EOPNOTSUPP));
        }
        if meta.is_dir() {
            if flags.write {
                return Err(errno(libc::EISDIR));
            }
            // Directories are listed with read_dir; the handle keeps them open
            // for fsync.
            return Ok(Box::new(HostFile { file: File::open(&host)? }));
        }
        Ok(Box::new(HostFile { file: HostDir::open_host(&host, flags, None)? }))
    }

    fn create(&self, dir: &SharePath, name: &str, flags: OpenFlags, mode: u32) -> io::Result<Box<dyn FsFile>> {
        validate_name(name)?;
        let host = self.dir_path(dir)?.join(name);
        let flags = OpenFlags { write: true, ..flags };
        Ok(Box::new(HostFile { file: HostDir::open_host(&host, flags, Some(mode))? }))
    }

    fn read_dir(&self, path: &SharePath) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.dir_path(path)?)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                log::debug!("9p: skipping non-UTF-8 name in {:?}", path);
                continue;
            };
            out.push(DirEntry { name, ino: entry.ino(), kind: kind_of(entry.file_type()?) });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn mkdir(&self, dir: &SharePath, name: &str, mode: u32) -> io::Result<()> {
        validate_name(name)?;
        let host = self.dir_path(dir)?.join(name);
        fs::create_dir(&host)?;
        fs::set_permissions(&host, fs::Permissions::from_mode(mode & 0o7777))
    }

    fn symlink(&self, dir: &SharePath, name: &str, target: &str) -> io::Result<()> {
        validate_name(name)?;
        if target.is_empty() || target.contains('\0') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid symlink target"));
        }
        // The target is stored as text; it is never resolved on the host.
        std::os::unix::fs::symlink(target, self.dir_path(dir)?.join(name))
    }

    fn link(&self, existing: &SharePath, dir: &SharePath, name: &str) -> io::Result<()> {
        validate_name(name)?;
        let src = self.entry_path(existing)?;
        if fs::symlink_metadata(&src)?.is_dir() {
            return Err(errno(libc::EPERM));
        }
        fs::hard_link(src, self.dir_path(dir)?.join(name))
    }

    fn readlink(&self, path: &SharePath) -> io::Result<String> {
        let target = fs::read_link(self.entry_path(path)?)?;
        target
            .into_os_string()
            .into_string()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8"))
    }

    fn remove(&self, dir: &SharePath, name: &str, is_dir: bool) -> io::Result<()> {
        validate_name(name)?;
        let host = self.dir_path(dir)?.join(name);
        if is_dir {
            fs::remove_dir(host)
        } else {
            if fs::symlink_metadata(&host)?.is_dir() {
                return Err(errno(libc::EISDIR));
            }
            fs::remove_file(host)
        }
    }

    fn rename(&self, from: &SharePath, to: &SharePath) -> io::Result<()> {
        if from.is_root() || to.is_root() {
            return Err(errno(libc::EBUSY));
        }
        if to.starts_with(from) && to != from {
            return Err(errno(libc::EINVAL));
        }
        fs::rename(self.entry_path(from)?, self.entry_path(to)?)
    }

    fn setattr(&self, path: &SharePath, changes: &SetAttr) -> io::Result<()> {
        let host = self.entry_path(path)?;
        let meta = fs::symlink_metadata(&host)?;
        let is_link = meta.file_type().is_symlink();
        if changes.uid.is_some() || changes.gid.is_some() {
            // lchown never follows; ownership changes need privileges the
            // host may not grant, as with QEMU's passthrough model.
            std::os::unix::fs::lchown(&host, changes.uid, changes.gid)?;
        }
        let touches_target =
            changes.mode.is_some() || changes.size.is_some() || changes.atime.is_some() || changes.mtime.is_some();
        if !touches_target {
            return Ok(());
        }
        if is_link {
            // chmod/truncate/utimes would act on the link's target.
            return Err(errno(libc::ELOOP));
        }
        if let Some(mode) = changes.mode {
            fs::set_permissions(&host, fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if let Some(size) = changes.size {
            if meta.is_dir() {
                return Err(errno(libc::EISDIR));
            }
            HostDir::open_host(&host, OpenFlags { write: true, ..Default::default() }, None)?.set_len(size)?;
        }
        if changes.atime.is_some() || changes.mtime.is_some() {
            let file = File::options().read(true).custom_flags(libc::O_NOFOLLOW).open(&host)?;
            let mut times = fs::FileTimes::new();
            if let Some(t) = changes.atime {
                times = times.set_accessed(system_time(t));
            }
            if let Some(t) = changes.mtime {
                times = times.set_modified(system_time(t));
            }
            file.set_times(times)?;
        }
        Ok(())
    }

    fn statfs(&self, path: &SharePath) -> io::Result<StatFs> {
        let host = self.entry_path(path)?;
        statvfs(&host)
    }
}

#[cfg(unix)]
fn statvfs(host: &Path) -> io::Result<StatFs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(host.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `c` is a valid C string and `st` a plain struct statvfs fills.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        st
    };
    Ok(StatFs {
        bsize: st.f_bsize as u32,
        blocks: st.f_blocks as u64,
        bfree: st.f_bfree as u64,
        bavail: st.f_bavail as u64,
        files: st.f_files as u64,
        ffree: st.f_ffree as u64,
        fsid: st.f_fsid as u64,
        namelen: st.f_namemax as u32,
    })
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
