//! The guest-physical memory map of the netvm machine: one place for every
//! fixed address, with the reason for each.
//!
//! Low memory follows the PC conventions Linux expects (no firmware runs, but
//! the kernel still reserves and scans the first MiB as on a PC); device
//! windows follow QEMU microvm so the same guest sees the same platform.

/// The real-mode IVT/BDA page; left untouched (Linux reserves page 0).
pub const LOW_RESERVED_END: u64 = 0x1000;

/// GDT used while entering the kernel (Linux boot protocol §"64-bit boot
/// protocol": __BOOT_CS = 0x10, __BOOT_DS = 0x18).
pub const BOOT_GDT_ADDR: u64 = 0x500;

/// The zero page (`struct boot_params`) handed to the kernel in RSI.
pub const ZERO_PAGE_ADDR: u64 = 0x7000;

/// Boot page tables: PML4, one PDPT and four page directories identity-map
/// the first 4 GiB with 2 MiB pages, covering the kernel, zero page, command
/// line and initrd as the 64-bit boot protocol requires.
pub const BOOT_PML4_ADDR: u64 = 0x9000;
pub const BOOT_PDPT_ADDR: u64 = 0xa000;
pub const BOOT_PD_ADDR: u64 = 0xb000; // four consecutive pages: 0xb000..0xf000
pub const BOOT_IDENTITY_MAP_SIZE: u64 = 4 << 30;

/// Initial kernel stack top (the kernel switches to its own stack at once).
pub const BOOT_STACK_TOP: u64 = 0x8ff0;

/// The kernel command line, NUL-terminated.
pub const CMDLINE_ADDR: u64 = 0x20000;
pub const CMDLINE_MAX: usize = 0x10000;

/// ACPI tables live in the BIOS area, where Linux also scans for the RSDP
/// when boot_params.acpi_rsdp_addr is not set.
pub const ACPI_TABLES_ADDR: u64 = 0xe0000;
pub const ACPI_TABLES_END: u64 = 0x100000;

/// End of conventional memory in the e820 map: 0x9fc00..0x100000 is the
/// legacy EBDA/VGA/BIOS hole on a PC, reported as reserved.
pub const LOW_RAM_END: u64 = 0x9fc00;

/// Where the protected-mode part of a bzImage is loaded, and the lowest
/// physical address the kernel image occupies (the boot protocol's
/// traditional "high" load address).
pub const HIMEM_START: u64 = 0x100000;

/// The start of the 32-bit MMIO hole; RAM above it would be relocated past
/// 4 GiB, which this machine does not do (guests here are small).
pub const MMIO_HOLE_START: u64 = 0xc000_0000;

/// virtio-mmio device windows, as on QEMU microvm: 512 bytes each from here.
pub const VIRTIO_MMIO_BASE: u64 = 0xfeb0_0000;
pub const VIRTIO_MMIO_SIZE: u64 = 0x200;
/// microvm numbers virtio-mmio interrupts from GSI 5 upward on IOAPIC 0
/// (0-4 are the timer, keyboard, cascade and the two serial ports).
pub const VIRTIO_MMIO_FIRST_IRQ: u32 = 5;

/// The ACPI Generic Event Device's registers (QEMU microvm's address): the
/// sleep control register receives the S5 request that powers off.
pub const GED_MMIO_BASE: u64 = 0xfea0_0000;
/// I/O APIC and local APIC, at their architectural default addresses.
pub const IOAPIC_ADDR: u64 = 0xfec0_0000;
pub const LAPIC_ADDR: u64 = 0xfee0_0000;

/// COM1, the console: I/O ports 0x3f8..0x3ff, ISA IRQ 4.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_IRQ: u32 = 4;
