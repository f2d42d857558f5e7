//! Android sparse images (the format of AOSP's `img2simg`/`simg2img`): a
//! disk image without its zero runs. The page's root disk is 32 MiB of which
//! about 2 MiB are not zero; as a sparse image it downloads, unpacks, lands
//! in the page's FS and is read by the emulator at a fifteenth of the size.
//!
//! Layout (little-endian): a file header (magic `0xed26ff3a`, version 1.0,
//! header sizes 28 and 12, block size, blocks in the image, chunk count,
//! checksum), then chunks, each a 12-byte header (type, reserved, blocks
//! covered, bytes in the file including the header) and its data: RAW (the
//! blocks' bytes), FILL (a 4-byte pattern), DONT_CARE (nothing: zeros here,
//! as in a fresh file written by simg2img), CRC32 (4 bytes, not checked).
//!
//! [`SparseBlock`] presents the expanded image to the guest: same size and
//! contents as the raw image, writable. The file is hostile input: every
//! size is checked, and a bad file is an error, never a panic.

use std::io;
use std::path::Path;

use super::block::BlockBackend;

const MAGIC: u32 = 0xed26_ff3a;
const FILE_HEADER_LEN: usize = 28;
const CHUNK_HEADER_LEN: usize = 12;
const CHUNK_RAW: u16 = 0xcac1;
const CHUNK_FILL: u16 = 0xcac2;
const CHUNK_DONT_CARE: u16 = 0xcac3;
const CHUNK_CRC32: u16 = 0xcac4;

/// Block size [`to_sparse`] writes (the ext2 image's own block size).
pub const SPARSE_BLOCK: usize = 4096;

/// The granule [`SparseBlock`] keeps in memory: a zero granule takes no memory.
const GRANULE: usize = 64 * 1024;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// `raw` (a whole number of [`SPARSE_BLOCK`]s) as a sparse image: zero
/// blocks become DONT_CARE chunks, the rest RAW chunks.
pub fn to_sparse(raw: &[u8]) -> io::Result<Vec<u8>> {
    if raw.len() % SPARSE_BLOCK != 0 {
        return Err(invalid(format!("{} bytes are not a whole number of {SPARSE_BLOCK}-byte blocks", raw.len())));
    }
    let blocks: Vec<&[u8]> = raw.chunks(SPARSE_BLOCK).collect();
    let total_blocks = u32::try_from(blocks.len()).map_err(|_| invalid(format!("{} blocks is too many", blocks.len())))?;
    let mut chunks = Vec::new();
    let mut count = 0u32;
    let mut i = 0;
    while i < blocks.len() {
        let zero = blocks[i].iter().all(|&b| b == 0);
        let start = i;
        while i < blocks.len() && blocks[i].iter().all(|&b| b == 0) == zero {
            i += 1;
        }
        let n = (i - start) as u32;
        let data = if zero { &[][..] } else { &raw[start * SPARSE_BLOCK..i * SPARSE_BLOCK] };
        chunks.extend_from_slice(&(if zero { CHUNK_DONT_CARE } else { CHUNK_RAW }).to_le_bytes());
        chunks.extend_from_slice(&0u16.to_le_bytes());
        chunks.extend_from_slice(&n.to_le_bytes());
        let total = u32::try_from(CHUNK_HEADER_LEN + data.len()).map_err(|_| invalid("a chunk over 4 GiB".into()))?;
        chunks.extend_from_slice(&total.to_le_bytes());
        chunks.extend_from_slice(data);
        count += 1;
    }
    let mut out = Vec::with_capacity(FILE_HEADER_LEN + chunks.len());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&(CHUNK_HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&(SPARSE_BLOCK as u32).to_le_bytes());
    out.extend_from_slice(&total_blocks.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // no image checksum
    out.extend_from_slice(&chunks);
    Ok(out)
}

/// Whether `data` starts like a sparse image.
pub fn is_sparse(data: &[u8]) -> bool {
    data.len() >= 4 && u32::from_le_bytes(data[..4].try_into().unwrap()) == MAGIC
}

/// A sparse image, expanded in memory a granule at a time: the granules
/// the image leaves zero take no memory until the guest writes them. The
/// guest's writes stay in memory for the run (the file is not rewritten).
pub struct SparseBlock {
    granules: Vec<Option<Box<[u8]>>>,
    len: u64,
    read_only: bool,
    id: String,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

impl SparseBlock {
    /// Reads the sparse image at `path` (one read: the file is small).
    pub fn open(path: &Path, read_only: bool) -> io::Result<SparseBlock> {
        let context = |e: io::Error| io::Error::new(e.kind(), format!("sparse disk image {}: {e}", path.display()));
        let file = std::fs::read(path).map_err(context)?;
        let id = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        SparseBlock::parse(&file, read_only, id).map_err(context)
    }

    /// Expands the sparse image `file`.
    pub fn parse(file: &[u8], read_only: bool, id: String) -> io::Result<SparseBlock> {
        if file.len() < FILE_HEADER_LEN || !is_sparse(file) {
            return Err(invalid("not an Android sparse image".into()));
        }
        let (major, file_header, chunk_header) = (le16(file, 4), le16(file, 8) as usize, le16(file, 10) as usize);
        let (block, total_blocks, chunks) = (le32(file, 12) as u64, le32(file, 16) as u64, le32(file, 20));
        if major != 1 {
            return Err(invalid(format!("version {major} (only 1 is known)")));
        }
        if file_header < FILE_HEADER_LEN || chunk_header < CHUNK_HEADER_LEN || file_header > file.len() {
            return Err(invalid(format!("header sizes {file_header}/{chunk_header}")));
        }
        if block == 0 || block % 4 != 0 {
            return Err(invalid(format!("block size {block}")));
        }
        let len = block * total_blocks; // both < 2^32: no overflow
        let granule_count = usize::try_from(len)
            .map(|len| len.div_ceil(GRANULE))
            .map_err(|_| invalid(format!("{len} bytes do not fit in memory")))?;
        let mut disk = SparseBlock { granules: Vec::new(), len, read_only, id };
        disk.granules.try_reserve_exact(granule_count).map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        disk.granules.resize_with(granule_count, || None);

        let mut at = file_header;
        let mut next_block = 0u64;
        for n in 0..chunks {
            let head = file
                .get(at..at + chunk_header)
                .ok_or_else(|| invalid(format!("chunk {n}: its header is past the file's end")))?;
            let (kind, covers, total) = (le16(head, 0), le32(head, 4) as u64, le32(head, 8) as usize);
            let data = total
                .checked_sub(chunk_header)
                .and_then(|len| (at + chunk_header).checked_add(len))
                .and_then(|end| file.get(at + chunk_header..end))
                .ok_or_else(|| invalid(format!("chunk {n}: {total} bytes do not fit in the file")))?;
            let offset = next_block * block;
            next_block += covers;
            if next_block > total_blocks {
                return Err(invalid(format!("chunk {n}: ends at block {next_block} of {total_blocks}")));
            }
            let bytes = covers * block;
            match kind {
                CHUNK_RAW if data.len() as u64 == bytes => disk.store(offset, data),
                CHUNK_FILL if data.len() == 4 => {
                    if data != [0; 4] {
                        let pattern: Vec<u8> = data.iter().copied().cycle().take(block as usize).collect();
                        for i in 0..covers {
                            disk.store(offset + i * block, &pattern);
                        }
                    }
                }
                CHUNK_DONT_CARE if data.is_empty() => {}
                CHUNK_CRC32 if data.len() == 4 && covers == 0 => {}
                CHUNK_RAW | CHUNK_FILL | CHUNK_DONT_CARE | CHUNK_CRC32 => {
                    return Err(invalid(format!("chunk {n}: type {kind:#x} with {} data bytes for {covers} blocks", data.len())))
                }
                other => return Err(invalid(format!("chunk {n}: unknown type {other:#x}"))),
            }
            at += total;
        }
        if next_block != total_blocks {
            return Err(invalid(format!("the chunks cover {next_block} of {total_blocks} blocks")));
        }
        Ok(disk)
    }

    /// Copies `data` to `offset` (in range: the callers check), allocating
    /// zero granules as needed.
    fn store(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let pos = offset as usize + done;
            let (g, within) = (pos / GRANULE, pos % GRANULE);
            let n = (GRANULE - within).min(data.len() - done);
            let granule = self.granules[g].get_or_insert_with(|| vec![0u8; GRANULE].into_boxed_slice());
            granule[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    fn check_range(&self, offset: u64, len: usize) -> io::Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at {offset} are past the disk's end"),
            )),
        }
    }
}

impl BlockBackend for SparseBlock {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check_range(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let pos = offset as usize + done;
            let (g, within) = (pos / GRANULE, pos % GRANULE);
            let n = (GRANULE - within).min(buf.len() - done);
            match &self.granules[g] {
                Some(granule) => buf[done..done + n].copy_from_slice(&granule[within..within + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "disk is read-only"));
        }
        self.check_range(offset, buf.len())?;
        self.store(offset, buf);
        Ok(())
    }
    /// Nothing to make durable: the writes live in memory for the run.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image with zero runs, data across granule boundaries and a short tail run.
    fn raw_image() -> Vec<u8> {
        let mut raw = vec![0u8; 40 * SPARSE_BLOCK];
        for (i, b) in raw[3 * SPARSE_BLOCK..20 * SPARSE_BLOCK].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        raw[39 * SPARSE_BLOCK + 5] = 1;
        raw
    }

    fn disk(file: &[u8]) -> io::Result<SparseBlock> {
        SparseBlock::parse(file, false, "disk".into())
    }

    #[test]
    fn reads_back_the_raw_image_and_keeps_writes() {
        let raw = raw_image();
        let sparse = to_sparse(&raw).unwrap();
        assert!(sparse.len() < raw.len() / 2, "{} bytes", sparse.len());
        let mut d = disk(&sparse).unwrap();
        assert_eq!(d.len(), raw.len() as u64);
        let mut all = vec![0xffu8; raw.len()];
        d.read_at(0, &mut all).unwrap();
        assert!(all == raw);
        // Reads at odd places, across granules.
        let mut buf = vec![0u8; 70_000];
        d.read_at(GRANULE as u64 - 1000, &mut buf).unwrap();
        assert_eq!(buf, raw[GRANULE - 1000..][..70_000]);
        // A write into a zero granule and one across a granule boundary.
        d.write_at(35 * SPARSE_BLOCK as u64, b"new").unwrap();
        d.write_at(GRANULE as u64 - 2, b"abcd").unwrap();
        d.flush().unwrap();
        let mut want = raw.clone();
        want[35 * SPARSE_BLOCK..][..3].copy_from_slice(b"new");
        want[GRANULE - 2..][..4].copy_from_slice(b"abcd");
        d.read_at(0, &mut all).unwrap();
        assert!(all == want);
    }

    #[test]
    fn fill_and_crc_chunks_are_understood() {
        // One FILL chunk of 2 blocks, a CRC32 chunk, one DONT_CARE block.
        let mut f = to_sparse(&vec![0u8; 3 * SPARSE_BLOCK]).unwrap()[..FILE_HEADER_LEN].to_vec();
        f[20..24].copy_from_slice(&3u32.to_le_bytes());
        for (kind, covers, data) in [(CHUNK_FILL, 2u32, &b"ab\0c"[..]), (CHUNK_CRC32, 0, &[1, 2, 3, 4]), (CHUNK_DONT_CARE, 1, &[])] {
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(&covers.to_le_bytes());
            f.extend_from_slice(&((CHUNK_HEADER_LEN + data.len()) as u32).to_le_bytes());
            f.extend_from_slice(data);
        }
        let mut d = disk(&f).unwrap();
        let mut all = vec![0xffu8; 3 * SPARSE_BLOCK];
        d.read_at(0, &mut all).unwrap();
        assert_eq!(&all[..8], b"ab\0cab\0c");
        assert_eq!(&all[2 * SPARSE_BLOCK - 4..2 * SPARSE_BLOCK], b"ab\0c");
        assert!(all[2 * SPARSE_BLOCK..].iter().all(|&b| b == 0));
    }

    #[test]
    fn hostile_files_are_errors() {
        let good = to_sparse(&raw_image()).unwrap();
        let bad = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut f = good.clone();
            edit(&mut f);
            disk(&f).err().expect("refused")
        };
        bad(&|f| f.truncate(20));
        bad(&|f| f[0] ^= 1);
        bad(&|f| f.truncate(f.len() - 1)); // the last chunk's data is cut
        bad(&|f| f[12..16].copy_from_slice(&0u32.to_le_bytes())); // block size 0
        bad(&|f| f[12..16].copy_from_slice(&4097u32.to_le_bytes()));
        bad(&|f| f[16..20].copy_from_slice(&39u32.to_le_bytes())); // chunks cover more
        bad(&|f| f[16..20].copy_from_slice(&41u32.to_le_bytes())); // chunks cover less
        bad(&|f| f[20..24].copy_from_slice(&u32::MAX.to_le_bytes())); // more chunks than the file has
        bad(&|f| f[FILE_HEADER_LEN + 8..FILE_HEADER_LEN + 12].copy_from_slice(&3u32.to_le_bytes())); // total < header
        bad(&|f| f[FILE_HEADER_LEN..FILE_HEADER_LEN + 2].copy_from_slice(&0xcaffu16.to_le_bytes())); // unknown type
        bad(&|f| f[8..10].copy_from_slice(&u16::MAX.to_le_bytes())); // header past the end
        assert!(to_sparse(&[0u8; 100]).is_err());

        let mut d = SparseBlock::parse(&good, true, "ro".into()).unwrap();
        let mut buf = [0u8; 16];
        assert!(d.read_at(40 * SPARSE_BLOCK as u64 - 8, &mut buf).is_err());
        assert!(d.read_at(u64::MAX - 4, &mut buf).is_err());
        assert_eq!(d.write_at(0, b"x").unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        let missing = SparseBlock::open(Path::new("no/such.simg"), true).err().expect("no such file");
        assert!(missing.to_string().contains("such.simg"), "{missing}");
    }
}
