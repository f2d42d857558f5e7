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

/// Bytes per dirty-tracking unit of [`ImageBlock`]: the granule written
/// back on flush.
const IMAGE_CHUNK: usize = 64 * 1024;
/// Bytes per read or write call on the image file: large, because under
/// emscripten each call from the emulator's thread is a round trip to the
/// page's main thread, where the file lives.
const IMAGE_IO: usize = 8 << 20;

/// A raw image file held in memory: read once in large chunks, written in
/// memory, and written back to the file (changed chunks only) on flush.
/// For hosts where the file system is slow per call (emscripten's MEMFS
/// from a pthread); natively [`FileBlock`] uses the file in place.
pub struct ImageBlock {
    file: File,
    data: Vec<u8>,
    /// One flag per [`IMAGE_CHUNK`]: written since the last flush.
    dirty: Vec<bool>,
    read_only: bool,
    id: String,
}

impl ImageBlock {
    /// Reads all of `path` into memory; writes reach it on flush unless `read_only`.
    pub fn open(path: &Path, read_only: bool) -> io::Result<ImageBlock> {
        let context = |e: io::Error| io::Error::new(e.kind(), format!("disk image {}: {e}", path.display()));
        let mut file = OpenOptions::new().read(true).write(!read_only).open(path).map_err(context)?;
        let len = file.metadata().map_err(context)?.len();
        let len = usize::try_from(len)
            .map_err(|_| context(io::Error::new(io::ErrorKind::OutOfMemory, format!("{len} bytes do not fit"))))?;
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|e| context(io::Error::new(io::ErrorKind::OutOfMemory, e)))?;
        data.resize(len, 0);
        for chunk in data.chunks_mut(IMAGE_IO) {
            file.read_exact(chunk).map_err(context)?;
        }
        let id = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(ImageBlock { file, dirty: vec![false; len.div_ceil(IMAGE_CHUNK)], data, read_only, id })
    }

    fn range(&self, offset: u64, len: usize) -> io::Result<std::ops::Range<usize>> {
        usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= self.data.len())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, format!("{len} bytes at {offset} are past the disk's end"))
            })
    }
}

impl BlockBackend for ImageBlock {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let r = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "disk is read-only"));
        }
        let r = self.range(offset, buf.len())?;
        if r.is_empty() {
            return Ok(());
        }
        for flag in &mut self.dirty[r.start / IMAGE_CHUNK..=(r.end - 1) / IMAGE_CHUNK] {
            *flag = true;
        }
        self.data[r].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        // Runs of dirty chunks, each written with as few calls as possible.
        let mut i = 0;
        while i < self.dirty.len() {
            if !self.dirty[i] {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < self.dirty.len() && self.dirty[i] && (i - run_start) * IMAGE_CHUNK < IMAGE_IO {
                i += 1;
            }
            let start = run_start * IMAGE_CHUNK;
            let end = (i * IMAGE_CHUNK).min(self.data.len());
            self.file.seek(SeekFrom::Start(start as u64))?;
            self.file.write_all(&self.data[start..end])?;
            self.dirty[run_start..i].fill(false);
        }
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(len: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, data).unwrap();
        (dir, path)
    }

    #[test]
    fn image_block_reads_the_file_and_writes_back_changed_chunks_on_flush() {
        let len = 3 * IMAGE_CHUNK + 1000;
        let (_dir, path) = image(len);
        let original = std::fs::read(&path).unwrap();
        let mut disk = ImageBlock::open(&path, false).unwrap();
        assert_eq!(disk.len(), len as u64);
        assert_eq!(disk.id(), "disk.img");
        let mut buf = vec![0u8; 4096];
        disk.read_at(IMAGE_CHUNK as u64 - 100, &mut buf).unwrap();
        assert_eq!(buf, original[IMAGE_CHUNK - 100..][..4096]);

        // Across a chunk boundary, and in the short last chunk.
        disk.write_at(IMAGE_CHUNK as u64 - 2, b"abcd").unwrap();
        disk.write_at(len as u64 - 3, b"end").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original, "nothing reaches the file before flush");
        disk.read_at(IMAGE_CHUNK as u64 - 2, &mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"abcd");
        disk.flush().unwrap();
        let mut want = original.clone();
        want[IMAGE_CHUNK - 2..IMAGE_CHUNK + 2].copy_from_slice(b"abcd");
        want[len - 3..].copy_from_slice(b"end");
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    #[test]
    fn image_block_refuses_out_of_range_and_read_only_writes() {
        let (_dir, path) = image(8192);
        let mut disk = ImageBlock::open(&path, true).unwrap();
        let mut buf = [0u8; 16];
        assert!(disk.read_at(8190, &mut buf).is_err());
        assert!(disk.read_at(u64::MAX - 4, &mut buf).is_err());
        assert_eq!(disk.write_at(0, b"x").unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        disk.flush().unwrap();
        let mut rw = ImageBlock::open(&path, false).unwrap();
        assert!(rw.write_at(8190, &buf).is_err());
        let missing = ImageBlock::open(&path.with_extension("missing"), true).err().expect("no such file");
        assert!(missing.to_string().contains("disk.missing"), "{missing}");
    }
}
