//! Fills `struct boot_params` (the "zero page"), the kernel's only source of
//! facts about the machine when it is entered directly: memory map, command
//! line, initrd, ACPI RSDP. Offsets: Documentation/x86/zero-page.rst.

use super::setup_header::{self as hdr, CAN_USE_HEAP, LOADED_HIGH, LOADER_TYPE_UNDEFINED};

pub const ZERO_PAGE_SIZE: usize = 4096;

const OFF_ACPI_RSDP_ADDR: usize = 0x070;
const OFF_EXT_RAMDISK_IMAGE: usize = 0x0c0;
const OFF_EXT_RAMDISK_SIZE: usize = 0x0c4;
const OFF_EXT_CMD_LINE_PTR: usize = 0x0c8;
const OFF_E820_ENTRIES: usize = 0x1e8;
const OFF_E820_TABLE: usize = 0x2d0;
const E820_MAX_ENTRIES: usize = 128;
const E820_ENTRY_SIZE: usize = 20;

/// e820 range types (ACPI spec "Address Range Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Type {
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: E820Type,
}

/// A zero page being filled in.
pub struct ZeroPage {
    bytes: Box<[u8; ZERO_PAGE_SIZE]>,
    e820: Vec<E820Entry>,
}

impl ZeroPage {
    /// Starts from the bzImage's setup header when there is one (the kernel
    /// reads some of its own header fields back from the zero page), else
    /// from a blank header (vmlinux).
    pub fn new(setup_header_src: Option<&[u8]>) -> ZeroPage {
        let mut bytes = Box::new([0u8; ZERO_PAGE_SIZE]);
        if let Some(image) = setup_header_src {
            bytes[hdr::HEADER_OFFSET..hdr::HEADER_END].copy_from_slice(&image[hdr::HEADER_OFFSET..hdr::HEADER_END]);
        } else {
            // The fields Linux checks even on a direct ELF entry.
            bytes[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
            bytes[0x202..0x206].copy_from_slice(b"HdrS");
            bytes[0x206..0x208].copy_from_slice(&hdr::MIN_VERSION.to_le_bytes());
        }
        bytes[hdr::OFF_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
        bytes[hdr::OFF_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
        // heap_end_ptr: offset from the real-mode code's start; unused by a
        // 64-bit entry but the kernel sanity-checks it with CAN_USE_HEAP.
        bytes[hdr::OFF_HEAP_END_PTR..hdr::OFF_HEAP_END_PTR + 2].copy_from_slice(&0xfe00u16.to_le_bytes());
        ZeroPage { bytes, e820: Vec::new() }
    }

    pub fn set_cmdline(&mut self, addr: u64) {
        self.put_u32(hdr::OFF_CMD_LINE_PTR, addr as u32);
        self.put_u32(OFF_EXT_CMD_LINE_PTR, (addr >> 32) as u32);
    }

    pub fn set_initrd(&mut self, addr: u64, size: u64) {
        self.put_u32(hdr::OFF_RAMDISK_IMAGE, addr as u32);
        self.put_u32(OFF_EXT_RAMDISK_IMAGE, (addr >> 32) as u32);
        self.put_u32(hdr::OFF_RAMDISK_SIZE, size as u32);
        self.put_u32(OFF_EXT_RAMDISK_SIZE, (size >> 32) as u32);
    }

    pub fn set_acpi_rsdp(&mut self, addr: u64) {
        self.bytes[OFF_ACPI_RSDP_ADDR..OFF_ACPI_RSDP_ADDR + 8].copy_from_slice(&addr.to_le_bytes());
    }

    /// Adds a memory map entry. At most 128 fit in the zero page.
    pub fn add_e820(&mut self, entry: E820Entry) {
        assert!(self.e820.len() < E820_MAX_ENTRIES, "the zero page holds at most 128 e820 entries");
        self.e820.push(entry);
    }

    pub fn e820(&self) -> &[E820Entry] {
        &self.e820
    }

    /// The finished page.
    pub fn to_bytes(&self) -> [u8; ZERO_PAGE_SIZE] {
        let mut out = *self.bytes;
        out[OFF_E820_ENTRIES] = self.e820.len() as u8;
        for (i, e) in self.e820.iter().enumerate() {
            let off = OFF_E820_TABLE + i * E820_ENTRY_SIZE;
            out[off..off + 8].copy_from_slice(&e.addr.to_le_bytes());
            out[off + 8..off + 16].copy_from_slice(&e.size.to_le_bytes());
            out[off + 16..off + 20].copy_from_slice(&(e.kind as u32).to_le_bytes());
        }
        out
    }

    fn put_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
}
