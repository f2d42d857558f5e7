//! A checked view of the Linux x86 boot protocol's setup header, as found at
//! offset 0x1f1 of a bzImage and of `struct boot_params` (the zero page).
//! Offsets and flags: Documentation/x86/boot.rst ("The real-mode kernel
//! header").

use super::BootError;

/// Offset of the setup header within a bzImage and within the zero page.
pub const HEADER_OFFSET: usize = 0x1f1;
/// The header grows with the protocol; 2.15 ends at 0x26c.
pub const HEADER_END: usize = 0x26c;

const OFF_SETUP_SECTS: usize = 0x1f1;
const OFF_BOOT_FLAG: usize = 0x1fe;
const OFF_HEADER_MAGIC: usize = 0x202;
const OFF_VERSION: usize = 0x206;
pub const OFF_TYPE_OF_LOADER: usize = 0x210;
pub const OFF_LOADFLAGS: usize = 0x211;
pub const OFF_RAMDISK_IMAGE: usize = 0x218;
pub const OFF_RAMDISK_SIZE: usize = 0x21c;
pub const OFF_HEAP_END_PTR: usize = 0x224;
pub const OFF_CMD_LINE_PTR: usize = 0x228;
const OFF_INITRD_ADDR_MAX: usize = 0x22c;
const OFF_KERNEL_ALIGNMENT: usize = 0x230;
const OFF_XLOADFLAGS: usize = 0x236;
const OFF_CMDLINE_SIZE: usize = 0x238;
const OFF_INIT_SIZE: usize = 0x260;

const BOOT_FLAG: u16 = 0xaa55;
const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"HdrS");
/// 2.12 introduced xloadflags, which says whether the 64-bit entry exists.
pub const MIN_VERSION: u16 = 0x020c;

/// loadflags bits.
pub const LOADED_HIGH: u8 = 1 << 0;
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// xloadflags: the kernel has the 64-bit entry point at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;

/// "Undefined" boot loader type: we have no registered ID.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;

/// The fields of a bzImage setup header that a 64-bit loader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupHeader {
    pub setup_sects: u8,
    pub version: u16,
    pub xloadflags: u16,
    pub initrd_addr_max: u32,
    pub kernel_alignment: u32,
    pub cmdline_size: u32,
    pub init_size: u32,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

impl SetupHeader {
    /// Parses and validates the header of a bzImage.
    pub fn parse(image: &[u8]) -> Result<SetupHeader, BootError> {
        if image.len() < HEADER_END {
            return Err(BootError::NotABzImage("file shorter than the setup header"));
        }
        if u16_at(image, OFF_BOOT_FLAG) != BOOT_FLAG || u32_at(image, OFF_HEADER_MAGIC) != HEADER_MAGIC {
            return Err(BootError::NotABzImage("no boot flag 0xaa55 / \"HdrS\" magic"));
        }
        let version = u16_at(image, OFF_VERSION);
        if version < MIN_VERSION {
            return Err(BootError::UnsupportedProtocol(version));
        }
        // setup_sects == 0 means 4 for historical reasons (boot.rst).
        let setup_sects = match image[OFF_SETUP_SECTS] {
            0 => 4,
            n => n,
        };
        let header = SetupHeader {
            setup_sects,
            version,
            xloadflags: u16_at(image, OFF_XLOADFLAGS),
            initrd_addr_max: u32_at(image, OFF_INITRD_ADDR_MAX),
            kernel_alignment: u32_at(image, OFF_KERNEL_ALIGNMENT),
            cmdline_size: u32_at(image, OFF_CMDLINE_SIZE),
            init_size: u32_at(image, OFF_INIT_SIZE),
        };
        if header.xloadflags & XLF_KERNEL_64 == 0 {
            return Err(BootError::No64BitEntry);
        }
        if header.protected_mode_offset() >= image.len() {
            return Err(BootError::NotABzImage("setup sectors extend past the end of the file"));
        }
        Ok(header)
    }

    /// Where the protected-mode kernel starts in the file: after the boot
    /// sector and `setup_sects` 512-byte setup sectors.
    pub fn protected_mode_offset(&self) -> usize {
        (self.setup_sects as usize + 1) * 512
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid header: the fields a loader checks, nothing else.
    pub(crate) fn fake_bzimage(setup_sects: u8, payload: &[u8]) -> Vec<u8> {
        let mut img = vec![0u8; (setup_sects as usize + 1) * 512];
        img[OFF_SETUP_SECTS] = setup_sects;
        img[OFF_BOOT_FLAG..OFF_BOOT_FLAG + 2].copy_from_slice(&BOOT_FLAG.to_le_bytes());
        img[OFF_HEADER_MAGIC..OFF_HEADER_MAGIC + 4].copy_from_slice(b"HdrS");
        img[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&0x020fu16.to_le_bytes());
        img[OFF_XLOADFLAGS..OFF_XLOADFLAGS + 2].copy_from_slice(&XLF_KERNEL_64.to_le_bytes());
        img[OFF_INITRD_ADDR_MAX..OFF_INITRD_ADDR_MAX + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        img[OFF_CMDLINE_SIZE..OFF_CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        img[OFF_INIT_SIZE..OFF_INIT_SIZE + 4].copy_from_slice(&0x10_0000u32.to_le_bytes());
        img.extend_from_slice(payload);
        img
    }

    #[test]
    fn parses_a_valid_header() {
        let h = SetupHeader::parse(&fake_bzimage(7, b"kernel")).unwrap();
        assert_eq!(h.setup_sects, 7);
        assert_eq!(h.protected_mode_offset(), 8 * 512);
        assert_eq!(h.version, 0x020f);
    }

    #[test]
    fn rejects_garbage_short_files_and_old_kernels() {
        assert!(matches!(SetupHeader::parse(b"\x7fELF"), Err(BootError::NotABzImage(_))));
        assert!(matches!(SetupHeader::parse(&[0u8; 4096]), Err(BootError::NotABzImage(_))));
        let mut old = fake_bzimage(4, b"k");
        old[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&0x0208u16.to_le_bytes());
        assert!(matches!(SetupHeader::parse(&old), Err(BootError::UnsupportedProtocol(0x0208))));
        let mut no64 = fake_bzimage(4, b"k");
        no64[OFF_XLOADFLAGS] = 0;
        assert!(matches!(SetupHeader::parse(&no64), Err(BootError::No64BitEntry)));
        let mut truncated = fake_bzimage(4, b"");
        truncated[OFF_SETUP_SECTS] = 200;
        assert!(matches!(SetupHeader::parse(&truncated), Err(BootError::NotABzImage(_))));
    }
}
