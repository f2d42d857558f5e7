//! The boot GDT and identity page tables the 64-bit boot protocol requires,
//! and the control-register bits for long mode (Intel SDM vol. 3 §2.5, §9.8).

use crate::machine::layout::*;

pub const CR0_PE: u64 = 1 << 0;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;

/// Selectors the boot protocol names: __BOOT_CS and __BOOT_DS.
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

/// Descriptors: 0 and 1 unused, 2 a 64-bit code segment (L=1, P, DPL 0,
/// execute/read), 3 a flat 4 GiB read/write data segment.
const BOOT_GDT: [u64; 4] = [0, 0, 0x00af_9b00_0000_ffff, 0x00cf_9300_0000_ffff];

pub struct GdtLocation {
    pub base: u64,
    pub limit: u16,
}

pub fn write_boot_gdt(ram: &mut [u8]) -> GdtLocation {
    let base = BOOT_GDT_ADDR as usize;
    for (i, d) in BOOT_GDT.iter().enumerate() {
        ram[base + i * 8..base + i * 8 + 8].copy_from_slice(&d.to_le_bytes());
    }
    GdtLocation { base: BOOT_GDT_ADDR, limit: (BOOT_GDT.len() * 8 - 1) as u16 }
}

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_PAGE_SIZE: u64 = 1 << 7;
const PAGE_2M: u64 = 2 << 20;

/// Identity-maps the first 4 GiB with 2 MiB pages: PML4[0] → PDPT, PDPT[0..4]
/// → four page directories. Returns CR3.
pub fn write_identity_page_tables(ram: &mut [u8]) -> u64 {
    let mut put = |addr: u64, v: u64| ram[addr as usize..addr as usize + 8].copy_from_slice(&v.to_le_bytes());
    for a in (BOOT_PML4_ADDR..BOOT_PD_ADDR + 4 * 0x1000).step_by(8) {
        put(a, 0);
    }
    put(BOOT_PML4_ADDR, BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITABLE);
    let directories = BOOT_IDENTITY_MAP_SIZE / (512 * PAGE_2M);
    for d in 0..directories {
        let pd = BOOT_PD_ADDR + d * 0x1000;
        put(BOOT_PDPT_ADDR + d * 8, pd | PTE_PRESENT | PTE_WRITABLE);
        for e in 0..512 {
            let phys = (d * 512 + e) * PAGE_2M;
            put(pd + e * 8, phys | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE);
        }
    }
    BOOT_PML4_ADDR
}
