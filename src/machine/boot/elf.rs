//! Loads an uncompressed `vmlinux` (ELF64, x86_64) at its physical load
//! addresses. Entering vmlinux directly skips the bzImage decompressor, which
//! would otherwise run instruction by instruction in our interpreter.
//!
//! On x86_64 the linker script sets `ENTRY(phys_startup_64)`, so `e_entry` and
//! each PT_LOAD's `p_paddr` are physical addresses.

use super::BootError;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

/// Whether `image` starts like an ELF file (then it is loaded as vmlinux).
pub fn is_elf(image: &[u8]) -> bool {
    image.starts_with(ELF_MAGIC)
}

/// What loading produced: where to jump and the physical span occupied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedElf {
    pub entry: u64,
    pub lowest: u64,
    pub highest: u64,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// The ELF header's fields the loader uses, checked against the file.
struct Header {
    entry: u64,
    phoff: usize,
    phentsize: usize,
    phnum: usize,
}

impl Header {
    fn parse(image: &[u8]) -> Result<Header, BootError> {
        let bad = BootError::BadElf;
        if image.len() < EHDR_SIZE || !is_elf(image) {
            return Err(bad("not an ELF file".into()));
        }
        if image[4] != ELFCLASS64 || image[5] != ELFDATA2LSB || u16_at(image, 18) != EM_X86_64 {
            return Err(bad("not a little-endian ELF64 file for x86_64".into()));
        }
        let entry = u64_at(image, 24);
        let phoff = u64_at(image, 32) as usize;
        let phentsize = u16_at(image, 54) as usize;
        let phnum = u16_at(image, 56) as usize;
        if phentsize < PHDR_SIZE {
            return Err(bad(format!("program header entries of {phentsize} bytes")));
        }
        let table_end = phnum.checked_mul(phentsize).and_then(|n| n.checked_add(phoff));
        if table_end.map_or(true, |end| end > image.len()) {
            return Err(bad("program header table lies outside the file".into()));
        }
        Ok(Header { entry, phoff, phentsize, phnum })
    }

    /// Program header `i` (< phnum; `parse` checked the table is in the file).
    fn program_header<'a>(&self, image: &'a [u8], i: usize) -> &'a [u8] {
        &image[self.phoff + i * self.phentsize..][..PHDR_SIZE]
    }
}

/// Alignment of the segments' file offsets in [`loadable_only`]'s output:
/// the page size, so that the ELF rule "offset ≡ address (mod p_align)"
/// holds for the kernel's page-aligned segments.
const COMPACT_ALIGN: u64 = 4096;

/// An ELF file with only what [`load`] reads: the ELF header, the PT_LOAD
/// program headers and their file data, packed one after the other. A
/// vmlinux also carries symbols, section headers and 2 MiB alignment
/// padding (15.5 MB against 10.2 MB of segments), which the page would
/// download and copy for nothing. Loading the result places the same bytes
/// at the same addresses and enters at the same point.
pub fn loadable_only(image: &[u8]) -> Result<Vec<u8>, BootError> {
    let header = Header::parse(image)?;
    let loads: Vec<&[u8]> =
        (0..header.phnum).map(|i| header.program_header(image, i)).filter(|ph| u32_at(ph, 0) == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(BootError::BadElf("no loadable segment".into()));
    }
    let mut out = image[..EHDR_SIZE].to_vec();
    out[32..40].copy_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
    out[40..48].fill(0); // e_shoff: no section headers
    out[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes()); // e_phentsize
    out[56..58].copy_from_slice(&(loads.len() as u16).to_le_bytes()); // e_phnum
    out[58..64].fill(0); // e_shentsize, e_shnum, e_shstrndx
    let table = out.len();
    out.resize(table + loads.len() * PHDR_SIZE, 0);
    for (i, ph) in loads.iter().enumerate() {
        let (offset, filesz) = (u64_at(ph, 8), u64_at(ph, 32));
        let data = offset
            .checked_add(filesz)
            .filter(|&end| end <= image.len() as u64)
            .map(|end| &image[offset as usize..end as usize])
            .ok_or_else(|| BootError::BadElf(format!("loadable segment {i} lies outside the file")))?;
        let new_offset = (out.len() as u64).next_multiple_of(COMPACT_ALIGN);
        out.resize(new_offset as usize, 0);
        out.extend_from_slice(data);
        let mut new_ph = ph.to_vec();
        new_ph[8..16].copy_from_slice(&new_offset.to_le_bytes()); // p_offset
        new_ph[48..56].copy_from_slice(&COMPACT_ALIGN.to_le_bytes()); // p_align
        out[table + i * PHDR_SIZE..][..PHDR_SIZE].copy_from_slice(&new_ph);
    }
    Ok(out)
}

/// Copies every PT_LOAD segment into `ram` (guest-physical address = index)
/// and zero-fills its BSS part.
pub fn load(ram: &mut [u8], image: &[u8]) -> Result<LoadedElf, BootError> {
    let bad = BootError::BadElf;
    let header = Header::parse(image)?;
    let entry = header.entry;

    let mut span: Option<(u64, u64)> = None;
    for i in 0..header.phnum {
        let ph = header.program_header(image, i);
        if u32_at(ph, 0) != PT_LOAD {
            continue;
        }
        let (offset, paddr, filesz, memsz) = (u64_at(ph, 8), u64_at(ph, 24), u64_at(ph, 32), u64_at(ph, 40));
        if filesz > memsz {
            return Err(bad(format!("segment {i}: file size {filesz:#x} exceeds memory size {memsz:#x}")));
        }
        let src_end = offset.checked_add(filesz).filter(|&e| e <= image.len() as u64);
        let Some(src_end) = src_end else {
            return Err(bad(format!("segment {i} lies outside the file")));
        };
        let dst_end = paddr.checked_add(memsz).filter(|&e| e <= ram.len() as u64);
        let Some(dst_end) = dst_end else {
            return Err(BootError::DoesNotFit { what: "kernel segment", addr: paddr, len: memsz, ram: ram.len() as u64 });
        };
        let dst = &mut ram[paddr as usize..dst_end as usize];
        dst[..filesz as usize].copy_from_slice(&image[offset as usize..src_end as usize]);
        dst[filesz as usize..].fill(0);
        span = Some(match span {
            None => (paddr, dst_end),
            Some((lo, hi)) => (lo.min(paddr), hi.max(dst_end)),
        });
    }
    let (lowest, highest) = span.ok_or_else(|| bad("no loadable segment".into()))?;
    if !(lowest..highest).contains(&entry) {
        return Err(bad(format!("entry point {entry:#x} is outside the loaded image")));
    }
    Ok(LoadedElf { entry, lowest, highest })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an ELF64 with one PT_LOAD segment.
    pub(crate) fn tiny_elf(paddr: u64, code: &[u8], memsz: u64) -> Vec<u8> {
        let mut f = vec![0u8; EHDR_SIZE + PHDR_SIZE];
        f[..4].copy_from_slice(ELF_MAGIC);
        f[4] = ELFCLASS64;
        f[5] = ELFDATA2LSB;
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[24..32].copy_from_slice(&paddr.to_le_bytes());
        f[32..40].copy_from_slice(&(EHDR_SIZE as u64).to_le_bytes());
        f[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = EHDR_SIZE;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 8..ph + 16].copy_from_slice(&((EHDR_SIZE + PHDR_SIZE) as u64).to_le_bytes());
        f[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
        f[ph + 32..ph + 40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        f[ph + 40..ph + 48].copy_from_slice(&memsz.to_le_bytes());
        f.extend_from_slice(code);
        f
    }

    #[test]
    fn loads_segments_and_zeroes_bss() {
        let mut ram = vec![0xaau8; 0x3000];
        let elf = tiny_elf(0x1000, &[1, 2, 3], 0x10);
        let loaded = load(&mut ram, &elf).unwrap();
        assert_eq!(loaded, LoadedElf { entry: 0x1000, lowest: 0x1000, highest: 0x1010 });
        assert_eq!(&ram[0x1000..0x1003], &[1, 2, 3]);
        assert!(ram[0x1003..0x1010].iter().all(|&b| b == 0));
        assert_eq!(ram[0x1010], 0xaa);
    }

    #[test]
    fn rejects_hostile_headers() {
        let mut ram = vec![0u8; 0x3000];
        // Segment beyond RAM.
        assert!(matches!(load(&mut ram, &tiny_elf(0x2ff0, &[0; 4], 0x100)), Err(BootError::DoesNotFit { .. })));
        // Address overflow.
        assert!(load(&mut ram, &tiny_elf(u64::MAX - 2, &[0; 4], 8)).is_err());
        // filesz > memsz.
        assert!(load(&mut ram, &tiny_elf(0x1000, &[0; 8], 4)).is_err());
        // Truncated file and a program header table pointing past the end.
        let elf = tiny_elf(0x1000, &[0; 4], 4);
        assert!(load(&mut ram, &elf[..70]).is_err());
        let mut far = elf.clone();
        far[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load(&mut ram, &far).is_err());
        // 32-bit class.
        let mut c32 = elf;
        c32[4] = 1;
        assert!(load(&mut ram, &c32).is_err());
    }

    #[test]
    fn loadable_only_keeps_what_load_places_and_drops_the_rest() {
        // Two segments far apart in the file, with padding and a trailing
        // "symbol table" that loading never reads.
        let mut elf = tiny_elf(0x1000, &[1, 2, 3, 4], 0x20);
        let second_at = 0x3000u64;
        let mut ph2 = elf[EHDR_SIZE..EHDR_SIZE + PHDR_SIZE].to_vec();
        ph2[8..16].copy_from_slice(&second_at.to_le_bytes());
        ph2[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
        ph2[32..40].copy_from_slice(&3u64.to_le_bytes());
        ph2[40..48].copy_from_slice(&3u64.to_le_bytes());
        let mut note = ph2.clone();
        note[..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        let code = elf.split_off(EHDR_SIZE + PHDR_SIZE);
        elf.extend_from_slice(&ph2);
        elf.extend_from_slice(&note);
        elf[56..58].copy_from_slice(&3u16.to_le_bytes());
        elf[EHDR_SIZE + 8..EHDR_SIZE + 16].copy_from_slice(&((EHDR_SIZE + 3 * PHDR_SIZE) as u64).to_le_bytes());
        elf.extend_from_slice(&code);
        elf.resize(second_at as usize, 0);
        elf.extend_from_slice(&[7, 8, 9]);
        elf.extend_from_slice(&[0x5a; 0x4000]);

        let compact = loadable_only(&elf).unwrap();
        assert!(compact.len() < elf.len() / 2, "{} bytes", compact.len());
        assert_eq!(u16_at(&compact, 56), 2, "only the PT_LOAD headers");
        let (mut ram_a, mut ram_b) = (vec![0xaau8; 0x3000], vec![0xaau8; 0x3000]);
        let a = load(&mut ram_a, &elf).unwrap();
        let b = load(&mut ram_b, &compact).unwrap();
        assert_eq!(a, b);
        assert!(ram_a == ram_b);
        assert_eq!(&ram_b[0x2000..0x2003], &[7, 8, 9]);
        // Hostile input is refused, as by load.
        assert!(loadable_only(&elf[..100]).is_err());
        let mut outside = elf.clone();
        outside[EHDR_SIZE + PHDR_SIZE + 8..EHDR_SIZE + PHDR_SIZE + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(loadable_only(&outside).is_err());
    }
}
