//! Block storage for virtio-blk: a byte-addressed disk image.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A disk. Offsets and lengths are in bytes; the device checks them against
/// [`BlockBackend::len`] before calling.
pub trait BlockBackend {
    /// Capacity in bytes.
    fn len(&self) -> u64;
    /// Whether writes are refused.
    fn is_read_only(&self) -> bool;
    /// A short identifier (virtio-blk GET_ID returns up to 20 bytes of it).
    fn id(&self) -> &str;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes written data durable (fsync on a host file).
    fn flush(&mut self) -> io::Result<()>;
}

/// A raw image file (QEMU `format=raw`).
pub struct FileBlock {
    file: File,
    len: u64,
    read_only: bool,
    id: String,
}

impl FileBlock {
    /// Opens `path` read-write, or read-only when `read_only`.
    pub fn open(path: &Path, read_only: bool) -> io::Result<FileBlock> {
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening disk image {}: {e}", path.display())))?;
        let len = file.metadata()?.len();
        let id = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(FileBlock { file, len, read_only, id })
    }
}

impl BlockBackend for FileBlock {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn id(&self) -> &str {
        &self.id
    }
    // Seek + read rather than positioned I/O: identical on every host,
    // emscripten's FS included.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "disk is read-only"));
        }
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }
}
