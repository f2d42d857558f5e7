use super::*;
use crate::machine::boot::elf::tests::tiny_elf;
use crate::machine::boot::setup_header::tests::fake_bzimage;

const MIB: usize = 1 << 20;

fn u32_at(ram: &[u8], addr: u64) -> u32 {
    u32::from_le_bytes(ram[addr as usize..addr as usize + 4].try_into().unwrap())
}
fn u64_at(ram: &[u8], addr: u64) -> u64 {
    u64::from_le_bytes(ram[addr as usize..addr as usize + 8].try_into().unwrap())
}

#[test]
fn bzimage_is_placed_at_1mib_with_entry_at_0x200() {
    let mut ram = vec![0u8; 64 * MIB];
    let image = fake_bzimage(4, b"PROTECTED-MODE");
    let initrd = vec![0x5a; 10_000];
    let cfg = BootConfig { kernel: &image, cmdline: "console=ttyS0", initrd: Some(&initrd), acpi_rsdp: Some(0xe0000) };
    let st = load_kernel(&mut ram, &cfg).unwrap();

    assert_eq!(st.rip, 0x100200);
    assert_eq!(&ram[0x100000..0x10000e], b"PROTECTED-MODE");
    assert_eq!(st.rsi, ZERO_PAGE_ADDR);
    // Command line pointer and contents.
    assert_eq!(u32_at(&ram, ZERO_PAGE_ADDR + 0x228), CMDLINE_ADDR as u32);
    assert_eq!(&ram[CMDLINE_ADDR as usize..CMDLINE_ADDR as usize + 14], b"console=ttyS0\0");
    // The initrd sits page-aligned at the top of RAM.
    let initrd_addr = u32_at(&ram, ZERO_PAGE_ADDR + 0x218) as u64;
    assert_eq!(initrd_addr % 4096, 0);
    assert_eq!(u32_at(&ram, ZERO_PAGE_ADDR + 0x21c), 10_000);
    assert!(initrd_addr + 10_000 <= ram.len() as u64 && initrd_addr + 10_000 + 4096 > ram.len() as u64);
    assert!(ram[initrd_addr as usize..][..10_000].iter().all(|&b| b == 0x5a));
    assert_eq!(u64_at(&ram, ZERO_PAGE_ADDR + 0x70), 0xe0000);
    // The boot loader type and the header magic survive in the zero page.
    assert_eq!(ram[ZERO_PAGE_ADDR as usize + 0x210], 0xff);
    assert_eq!(&ram[ZERO_PAGE_ADDR as usize + 0x202..][..4], b"HdrS");
    // e820: three entries, RAM up to the end.
    assert_eq!(ram[ZERO_PAGE_ADDR as usize + 0x1e8], 3);
    assert_eq!(st.e820.last().unwrap().addr + st.e820.last().unwrap().size, ram.len() as u64);
}

#[test]
fn long_mode_state_and_identity_map() {
    let mut ram = vec![0u8; 16 * MIB];
    let image = fake_bzimage(4, b"k");
    let st = load_kernel(&mut ram, &BootConfig { kernel: &image, cmdline: "", initrd: None, acpi_rsdp: None }).unwrap();
    assert_eq!(st.efer & 0x500, 0x500);
    assert_ne!(st.cr0 & (1 << 31), 0);
    assert_ne!(st.cr4 & (1 << 5), 0);
    // Walk the tables for a few addresses: each maps to itself.
    for va in [0u64, 0x100200, 0x7000, 0x3fff_ffff, 0xfee0_0000] {
        let pml4e = u64_at(&ram, st.cr3 + ((va >> 39) & 511) * 8);
        assert_eq!(pml4e & 1, 1);
        let pdpte = u64_at(&ram, (pml4e & !0xfff) + ((va >> 30) & 511) * 8);
        assert_eq!(pdpte & 1, 1);
        let pde = u64_at(&ram, (pdpte & !0xfff) + ((va >> 21) & 511) * 8);
        assert_eq!(pde & 0x81, 0x81, "2 MiB page present for {va:#x}");
        assert_eq!((pde & !0x1f_ffff & 0x000f_ffff_ffff_f000) | (va & 0x1f_ffff), va);
    }
    // The GDT's code segment is 64-bit.
    let cs = u64_at(&ram, st.gdt_base + st.code_selector as u64);
    assert_ne!(cs & (1 << 53), 0, "L bit");
}

#[test]
fn vmlinux_enters_at_its_elf_entry() {
    let mut ram = vec![0u8; 32 * MIB];
    let elf = tiny_elf(0x100_0000, &[0x90, 0xf4], 0x1000);
    let st = load_kernel(&mut ram, &BootConfig { kernel: &elf, cmdline: "x", initrd: None, acpi_rsdp: None }).unwrap();
    assert_eq!(st.rip, 0x100_0000);
    assert_eq!(&ram[0x100_0000..0x100_0002], &[0x90, 0xf4]);
    assert_eq!(&ram[ZERO_PAGE_ADDR as usize + 0x202..][..4], b"HdrS");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let image = fake_bzimage(4, b"k");
    let mut small = vec![0u8; MIB];
    assert!(matches!(
        load_kernel(&mut small, &BootConfig { kernel: &image, cmdline: "", initrd: None, acpi_rsdp: None }),
        Err(BootError::BadRamSize(_))
    ));
    let mut ram = vec![0u8; 8 * MIB];
    let long = "x".repeat(5000);
    assert!(matches!(
        load_kernel(&mut ram, &BootConfig { kernel: &image, cmdline: &long, initrd: None, acpi_rsdp: None }),
        Err(BootError::CmdlineTooLong { .. })
    ));
    let huge_initrd = vec![0u8; 8 * MIB];
    assert!(matches!(
        load_kernel(&mut ram, &BootConfig { kernel: &image, cmdline: "", initrd: Some(&huge_initrd), acpi_rsdp: None }),
        Err(BootError::DoesNotFit { what: "initrd", .. })
    ));
    let low_elf = tiny_elf(0x1000, &[0x90], 1);
    assert!(matches!(
        load_kernel(&mut ram, &BootConfig { kernel: &low_elf, cmdline: "", initrd: None, acpi_rsdp: None }),
        Err(BootError::BadElf(_))
    ));
    assert!(load_kernel(&mut ram, &BootConfig { kernel: b"garbage", cmdline: "", initrd: None, acpi_rsdp: None }).is_err());
}
