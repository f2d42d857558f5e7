//! Direct kernel boot with the Linux x86 64-bit boot protocol
//! (Documentation/x86/boot.rst, "64-bit Boot Protocol"): no firmware runs.
//! The loader places the kernel (bzImage or vmlinux), command line and initrd
//! in guest RAM, writes the zero page, a GDT and identity page tables, and
//! returns the register state in which the CPU must start.

mod elf;
mod setup_header;
mod tables;
mod zero_page;

pub use elf::{is_elf, loadable_only};
pub use zero_page::{E820Entry, E820Type};

use super::layout::*;
use setup_header::SetupHeader;
use zero_page::ZeroPage;

/// Why a kernel could not be loaded. Every variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the kernel is not a bzImage: {0}")]
    NotABzImage(&'static str),
    #[error("the kernel uses boot protocol {0:#x}; 2.12 or later is needed for the 64-bit entry")]
    UnsupportedProtocol(u16),
    #[error("the kernel has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)")]
    No64BitEntry,
    #[error("the kernel is not a usable vmlinux: {0}")]
    BadElf(String),
    #[error("the {what} ({len:#x} bytes at {addr:#x}) does not fit in {ram:#x} bytes of guest RAM")]
    DoesNotFit { what: &'static str, addr: u64, len: u64, ram: u64 },
    #[error("the kernel command line is {len} bytes; this kernel accepts at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("guest RAM of {0:#x} bytes is too small or too large (1 MiB .. 3 GiB)")]
    BadRamSize(u64),
}

/// What the machine hands the loader.
pub struct BootConfig<'a> {
    /// A bzImage or an ELF vmlinux; told apart by their magic.
    pub kernel: &'a [u8],
    pub cmdline: &'a str,
    pub initrd: Option<&'a [u8]>,
    /// Physical address of the ACPI RSDP, if the machine built ACPI tables.
    pub acpi_rsdp: Option<u64>,
}

/// The CPU state at the kernel's 64-bit entry point: long mode, paging on
/// with the identity map, flat segments from the boot GDT, interrupts off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    pub rip: u64,
    /// The zero page, as the protocol requires.
    pub rsi: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub gdt_base: u64,
    pub gdt_limit: u16,
    /// __BOOT_CS: a 64-bit code segment, DPL 0.
    pub code_selector: u16,
    /// __BOOT_DS: a flat writable data segment, used for DS/ES/SS/FS/GS.
    pub data_selector: u16,
    /// The memory map given to the kernel (for logging and tests).
    pub e820: Vec<E820Entry>,
}

/// The kernel's COMMAND_LINE_SIZE on x86, for a vmlinux (no header to ask).
const DEFAULT_CMDLINE_SIZE: usize = 2048;
/// Where a bzImage's 64-bit entry lies relative to its load address.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;

fn check_fits(ram: &[u8], what: &'static str, addr: u64, len: u64) -> Result<(), BootError> {
    match addr.checked_add(len) {
        Some(end) if end <= ram.len() as u64 => Ok(()),
        _ => Err(BootError::DoesNotFit { what, addr, len, ram: ram.len() as u64 }),
    }
}

/// Loads the kernel and everything it needs into `ram` (index = guest
/// physical address) and returns the entry state.
pub fn load_kernel(ram: &mut [u8], cfg: &BootConfig) -> Result<BootState, BootError> {
    let ram_size = ram.len() as u64;
    if ram_size < 2 * HIMEM_START || ram_size > MMIO_HOLE_START {
        return Err(BootError::BadRamSize(ram_size));
    }

    // The kernel image.
    let (entry, kernel_end, mut zero_page, cmdline_max, initrd_max) = if is_elf(cfg.kernel) {
        let loaded = elf::load(ram, cfg.kernel)?;
        if loaded.lowest < HIMEM_START {
            return Err(BootError::BadElf(format!("a segment at {:#x} overlaps low memory", loaded.lowest)));
        }
        (loaded.entry, loaded.highest, ZeroPage::new(None), DEFAULT_CMDLINE_SIZE, u32::MAX as u64)
    } else {
        let header = SetupHeader::parse(cfg.kernel)?;
        let payload = &cfg.kernel[header.protected_mode_offset()..];
        // The decompressor works in place up to init_size from the load address.
        let span = (payload.len() as u64).max(header.init_size as u64);
        check_fits(ram, "kernel", HIMEM_START, span)?;
        ram[HIMEM_START as usize..][..payload.len()].copy_from_slice(payload);
        let max_cmdline = (header.cmdline_size as usize).saturating_add(1).max(256);
        (
            HIMEM_START + BZIMAGE_64BIT_ENTRY_OFFSET,
            HIMEM_START + span,
            ZeroPage::new(Some(cfg.kernel)),
            max_cmdline,
            header.initrd_addr_max as u64,
        )
    };

    // The command line, NUL-terminated.
    let cmdline = cfg.cmdline.as_bytes();
    let max = cmdline_max.min(CMDLINE_MAX);
    if cmdline.len() + 1 > max {
        return Err(BootError::CmdlineTooLong { len: cmdline.len(), max: max - 1 });
    }
    let at = CMDLINE_ADDR as usize;
    ram[at..at + cmdline.len()].copy_from_slice(cmdline);
    ram[at + cmdline.len()] = 0;
    zero_page.set_cmdline(CMDLINE_ADDR);

    // The initrd goes as high as the kernel allows, page-aligned, like
    // other loaders, leaving low memory to the kernel.
    if let Some(initrd) = cfg.initrd {
        let len = initrd.len() as u64;
        let top = ram_size.min(initrd_max.saturating_add(1));
        let addr = top.checked_sub(len).map(|a| a & !0xfff).filter(|&a| a >= kernel_end);
        let Some(addr) = addr else {
            return Err(BootError::DoesNotFit { what: "initrd", addr: kernel_end, len, ram: ram_size });
        };
        ram[addr as usize..][..initrd.len()].copy_from_slice(initrd);
        zero_page.set_initrd(addr, len);
    }

    if let Some(rsdp) = cfg.acpi_rsdp {
        zero_page.set_acpi_rsdp(rsdp);
    }

    // The memory map: low RAM, the legacy hole (where the ACPI tables sit),
    // and RAM from 1 MiB to the end.
    zero_page.add_e820(E820Entry { addr: 0, size: LOW_RAM_END, kind: E820Type::Ram });
    zero_page.add_e820(E820Entry { addr: LOW_RAM_END, size: HIMEM_START - LOW_RAM_END, kind: E820Type::Reserved });
    zero_page.add_e820(E820Entry { addr: HIMEM_START, size: ram_size - HIMEM_START, kind: E820Type::Ram });
    let zp = zero_page.to_bytes();
    ram[ZERO_PAGE_ADDR as usize..][..zp.len()].copy_from_slice(&zp);

    let gdt = tables::write_boot_gdt(ram);
    let cr3 = tables::write_identity_page_tables(ram);

    Ok(BootState {
        rip: entry,
        rsi: ZERO_PAGE_ADDR,
        rsp: BOOT_STACK_TOP,
        rflags: 0x2,
        cr0: tables::CR0_PE | tables::CR0_ET | tables::CR0_NE | tables::CR0_PG,
        cr3,
        cr4: tables::CR4_PAE,
        efer: tables::EFER_LME | tables::EFER_LMA,
        gdt_base: gdt.base,
        gdt_limit: gdt.limit,
        code_selector: tables::BOOT_CS,
        data_selector: tables::BOOT_DS,
        e820: zero_page.e820().to_vec(),
    })
}

#[cfg(test)]
mod tests;
