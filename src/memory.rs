//! Guest physical RAM: one contiguous region starting at guest physical
//! address 0.
//!
//! Two kinds of users read and write it. The CPU wants raw slices for its
//! fast path ([`GuestMemory::as_slice`], [`GuestMemory::as_mut_slice`]).
//! Devices do DMA at addresses the guest chose, so every device access goes
//! through the checked accessors below: an out-of-range or overflowing
//! address is a [`MemoryError`], never a panic. A guest can hand a device any
//! 64-bit value as a buffer address.

use std::fmt;

/// A guest access that does not fit inside RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryError {
    /// Guest physical address of the access.
    pub addr: u64,
    /// Length of the access in bytes.
    pub len: u64,
    /// Size of guest RAM.
    pub ram_size: u64,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest access of {} bytes at {:#x} is outside guest RAM (size {:#x})",
            self.len, self.addr, self.ram_size
        )
    }
}

impl std::error::Error for MemoryError {}

/// Where guest RAM's bytes live.
enum RamStorage {
    Heap(Vec<u8>),
    /// Zeroed memory from the host that nothing wrote (see
    /// `host::untouched_zeroed`), kept until the program ends.
    Untouched(&'static mut [u8]),
}

impl std::ops::Deref for RamStorage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RamStorage::Heap(v) => v,
            RamStorage::Untouched(s) => s,
        }
    }
}

impl std::ops::DerefMut for RamStorage {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            RamStorage::Heap(v) => v,
            RamStorage::Untouched(s) => s,
        }
    }
}

/// Guest RAM.
pub struct GuestMemory {
    ram: RamStorage,
    /// Ranges handed out for writing through the checked accessors (device
    /// DMA), for the machine to tell the CPU's decoded-code cache; see
    /// [`GuestMemory::take_written`].
    written: Vec<(u64, u64)>,
    written_overflow: bool,
}

/// How many written ranges are remembered before the log gives up and
/// reports "everything may have changed".
const WRITE_LOG_LIMIT: usize = 4096;

/// What device writes touched since the last [`GuestMemory::take_written`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// These (address, length) ranges.
    Ranges(Vec<(u64, u64)>),
    /// Too many to list: treat all of RAM as written.
    All,
}

impl GuestMemory {
    /// Allocates `size` bytes of zeroed guest RAM at guest physical address 0.
    /// Where the host can hand out zeroed memory without writing it (the
    /// browser: `calloc` clears every byte, ~0.27 s for 256 MiB), that is
    /// used; natively the OS maps zero pages lazily under `calloc` anyway.
    pub fn new(size: usize) -> GuestMemory {
        let ram = match crate::backends::host::untouched_zeroed(size) {
            Some(bytes) => RamStorage::Untouched(bytes),
            None => RamStorage::Heap(vec![0; size]),
        };
        GuestMemory { ram, written: Vec::new(), written_overflow: false }
    }

    /// Size of guest RAM in bytes.
    pub fn size(&self) -> u64 {
        self.ram.len() as u64
    }

    /// All of RAM, for the CPU's fast path (index = guest physical address).
    pub fn as_slice(&self) -> &[u8] {
        &self.ram
    }

    /// All of RAM, mutable, for the CPU's fast path and for loading images.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.ram
    }

    /// Validates `[addr, addr + len)` and returns it as a host index range.
    pub fn check_range(&self, addr: u64, len: u64) -> Result<std::ops::Range<usize>, MemoryError> {
        let err = MemoryError { addr, len, ram_size: self.size() };
        let end = addr.checked_add(len).ok_or(err)?;
        if end > self.size() {
            return Err(err);
        }
        // Both fit in usize because they are <= ram.len().
        Ok(addr as usize..end as usize)
    }

    /// The guest bytes `[addr, addr + len)`.
    pub fn slice(&self, addr: u64, len: u64) -> Result<&[u8], MemoryError> {
        let range = self.check_range(addr, len)?;
        Ok(&self.ram[range])
    }

    /// The guest bytes `[addr, addr + len)`, mutable. The range is logged
    /// as written (see [`GuestMemory::take_written`]).
    pub fn slice_mut(&mut self, addr: u64, len: u64) -> Result<&mut [u8], MemoryError> {
        let range = self.check_range(addr, len)?;
        self.log_write(addr, len);
        Ok(&mut self.ram[range])
    }

    fn log_write(&mut self, addr: u64, len: u64) {
        if self.written_overflow || len == 0 {
            return;
        }
        // Consecutive writes (a buffer filled piecewise) extend one entry.
        if let Some(last) = self.written.last_mut() {
            if last.0 + last.1 == addr {
                last.1 += len;
                return;
            }
        }
        if self.written.len() >= WRITE_LOG_LIMIT {
            self.written_overflow = true;
            self.written.clear();
        } else {
            self.written.push((addr, len));
        }
    }

    /// The ranges written through the checked accessors since the last
    /// call. The CPU caches decoded code per page, so whoever lets devices
    /// write RAM passes these to `Cpu::notify_ram_write`.
    pub fn take_written(&mut self) -> Written {
        if std::mem::take(&mut self.written_overflow) {
            Written::All
        } else {
            Written::Ranges(std::mem::take(&mut self.written))
        }
    }

    /// Copies guest memory at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        buf.copy_from_slice(self.slice(addr, buf.len() as u64)?);
        Ok(())
    }

    /// Copies `buf` into guest memory at `addr`.
    pub fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), MemoryError> {
        self.slice_mut(addr, buf.len() as u64)?.copy_from_slice(buf);
        Ok(())
    }

    fn read_array<const N: usize>(&self, addr: u64) -> Result<[u8; N], MemoryError> {
        let mut bytes = [0u8; N];
        self.read(addr, &mut bytes)?;
        Ok(bytes)
    }

    /// Reads a little-endian u16 (virtio structures are little-endian, virtio 1.2 §2.4).
    pub fn read_u16(&self, addr: u64) -> Result<u16, MemoryError> {
        self.read_array(addr).map(u16::from_le_bytes)
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, addr: u64) -> Result<u32, MemoryError> {
        self.read_array(addr).map(u32::from_le_bytes)
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, MemoryError> {
        self.read_array(addr).map(u64::from_le_bytes)
    }

    /// Writes a little-endian u16.
    pub fn write_u16(&mut self, addr: u64, value: u16) -> Result<(), MemoryError> {
        self.write(addr, &value.to_le_bytes())
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&mut self, addr: u64, value: u32) -> Result<(), MemoryError> {
        self.write(addr, &value.to_le_bytes())
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<(), MemoryError> {
        self.write(addr, &value.to_le_bytes())
    }
}

impl fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestMemory").field("size", &self.size()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_round_trip() {
        let mut mem = GuestMemory::new(0x1000);
        mem.write_u16(0x10, 0xbeef).unwrap();
        mem.write_u32(0x20, 0xdead_beef).unwrap();
        mem.write_u64(0xff8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(mem.read_u16(0x10).unwrap(), 0xbeef);
        assert_eq!(mem.read_u32(0x20).unwrap(), 0xdead_beef);
        assert_eq!(mem.read_u64(0xff8).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(mem.as_slice()[0x10], 0xef, "little-endian");
    }

    #[test]
    fn out_of_range_is_an_error() {
        let mut mem = GuestMemory::new(0x1000);
        assert!(mem.read_u64(0xff9).is_err(), "straddles the end");
        assert!(mem.read_u16(0x1000).is_err());
        assert!(mem.write(u64::MAX, &[1]).is_err());
        assert!(mem.slice(u64::MAX - 1, 4).is_err(), "overflowing end");
        assert!(mem.slice(0, 0x1001).is_err());
        assert_eq!(mem.slice(0x1000, 0).unwrap().len(), 0, "empty access at the end is fine");
        let err = mem.read_u32(0x2000).unwrap_err();
        assert_eq!(err, MemoryError { addr: 0x2000, len: 4, ram_size: 0x1000 });
        assert!(err.to_string().contains("0x2000"));
    }

    #[test]
    fn device_writes_are_logged_for_the_code_cache() {
        let mut mem = GuestMemory::new(0x10000);
        mem.write(0x100, &[1, 2]).unwrap();
        mem.write(0x102, &[3]).unwrap(); // extends the previous range
        mem.write_u32(0x8000, 7).unwrap();
        let _ = mem.read_u32(0x9000);
        assert_eq!(mem.take_written(), Written::Ranges(vec![(0x100, 3), (0x8000, 4)]));
        assert_eq!(mem.take_written(), Written::Ranges(vec![]));
        for i in 0..(WRITE_LOG_LIMIT as u64 + 1) {
            mem.write(i * 2, &[0]).unwrap();
        }
        assert_eq!(mem.take_written(), Written::All, "the log is bounded");
        assert_eq!(mem.take_written(), Written::Ranges(vec![]));
    }
}
