//! The ACPI tables of the netvm machine (ACPI 6.4): RSDP, XSDT, a
//! hardware-reduced FADT, MADT and a DSDT.
//!
//! They exist for two reasons. The kernel turns power off only through ACPI
//! on a machine without a PC chipset: it writes the S5 sleep type to the
//! FADT's sleep control register (ACPI 6.4 §4.8.3.7), which this machine
//! places on the Generic Event Device. And the MADT tells it where the local
//! APIC and I/O APIC are. Devices are not described here: netvm passes them
//! as `virtio_mmio.device=` entries on the command line, as QEMU microvm does.

use super::layout::{GED_MMIO_BASE, IOAPIC_ADDR, LAPIC_ADDR};

const OEM_ID: &[u8; 6] = b"NETVM ";
const OEM_TABLE_ID: &[u8; 8] = b"NETVMMCH";
const CREATOR_ID: &[u8; 4] = b"NTVM";
const HEADER_LEN: usize = 36;

/// The sleep type the DSDT's `_S5` object names; the kernel writes
/// `SLP_TYP << 2 | SLP_EN` to the sleep control register to power off.
pub const S5_SLEEP_TYPE: u8 = 5;
/// Bit layout of the hardware-reduced sleep control register (ACPI 6.4
/// §4.8.3.7): SLP_TYP in bits 2..4, SLP_EN in bit 5.
pub const SLEEP_CONTROL_TYPE_SHIFT: u8 = 2;
pub const SLEEP_CONTROL_TYPE_MASK: u8 = 0x1c;
pub const SLEEP_CONTROL_ENABLE: u8 = 0x20;
/// Offsets of the sleep control and status registers in the GED window.
pub const GED_SLEEP_CONTROL_OFFSET: u64 = 0;
pub const GED_SLEEP_STATUS_OFFSET: u64 = 1;

/// The tables laid out for one base address.
#[derive(Debug, Clone)]
pub struct AcpiTables {
    /// The bytes to copy to `base`.
    pub bytes: Vec<u8>,
    /// Where the RSDP is (for boot_params.acpi_rsdp_addr).
    pub rsdp_addr: u64,
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)).wrapping_neg()
}

/// A table: the standard header (ACPI 6.4 §5.2.6) then the body; the length
/// and checksum are filled in by `finish`.
fn table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(HEADER_LEN + body.len());
    t.extend_from_slice(signature);
    t.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    t.push(revision);
    t.push(0); // checksum
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(OEM_TABLE_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(CREATOR_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // creator revision
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// A Generic Address Structure (§5.2.3.2) for a byte register in memory.
fn gas_mmio_byte(addr: u64) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = 0; // system memory
    g[1] = 8; // bit width
    g[3] = 1; // byte access
    g[4..12].copy_from_slice(&addr.to_le_bytes());
    g
}

fn fadt_body(dsdt: u64) -> Vec<u8> {
    // FADT revision 6: 276 bytes in all, 240 after the header.
    let mut b = vec![0u8; 276 - HEADER_LEN];
    let at = |off: usize| off - HEADER_LEN;
    b[at(40)..at(44)].copy_from_slice(&(dsdt as u32).to_le_bytes());
    // CENTURY: the CMOS RTC's century register, so the kernel reads the
    // full year (without it Linux maps years 00-69 to 2000-2069).
    b[at(108)] = crate::devices::rtc::CENTURY_REGISTER;
    // IAPC_BOOT_ARCH: the CMOS RTC is present (bit 5 clear). VGA not present (bit 2), so the kernel does not poke
    // the legacy VGA ports.
    b[at(109)..at(111)].copy_from_slice(&(1u16 << 2).to_le_bytes());
    // Flags: HW_REDUCED_ACPI (bit 20); no fixed power/sleep buttons (4, 5).
    let flags: u32 = (1 << 20) | (1 << 4) | (1 << 5);
    b[at(112)..at(116)].copy_from_slice(&flags.to_le_bytes());
    b[at(131)] = 4; // FADT minor version: ACPI 6.4
    b[at(140)..at(148)].copy_from_slice(&dsdt.to_le_bytes()); // X_DSDT
    b[at(244)..at(256)].copy_from_slice(&gas_mmio_byte(GED_MMIO_BASE + GED_SLEEP_CONTROL_OFFSET));
    b[at(256)..at(268)].copy_from_slice(&gas_mmio_byte(GED_MMIO_BASE + GED_SLEEP_STATUS_OFFSET));
    b[at(268)..at(276)].copy_from_slice(b"NETVM\0\0\0"); // hypervisor vendor identity
    b
}

fn madt_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(LAPIC_ADDR as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // no 8259 PICs (PCAT_COMPAT clear)
    // Processor Local APIC: UID 0, APIC ID 0, enabled.
    b.extend_from_slice(&[0, 8, 0, 0]);
    b.extend_from_slice(&1u32.to_le_bytes());
    // I/O APIC: ID 0 (the local APIC has 0 too; IDs are per bus), GSI base 0.
    b.extend_from_slice(&[1, 12, 0, 0]);
    b.extend_from_slice(&(IOAPIC_ADDR as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b
}

/// AML for `Name (_S5, Package (4) { 5, 0, 0, 0 })`: the sleep type values
/// for the soft-off state (ACPI 6.4 §7.4.2).
fn dsdt_aml() -> Vec<u8> {
    vec![
        0x08, b'_', b'S', b'5', b'_', // NameOp "_S5_"
        0x12, 0x07, 0x04, // PackageOp, PkgLength 7, 4 elements
        0x0a, S5_SLEEP_TYPE, // BytePrefix 5
        0x00, 0x00, 0x00, // ZeroOp x3
    ]
}

/// The tables one by one as (signature, bytes), for tools that want files.
pub fn each_table(t: &AcpiTables) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 16 * ((36 + 15) / 16);
    while off + HEADER_LEN <= t.bytes.len() {
        let len = u32::from_le_bytes(t.bytes[off + 4..off + 8].try_into().unwrap()) as usize;
        out.push((t.bytes[off..off + 4].try_into().unwrap(), t.bytes[off..off + len].to_vec()));
        off += (len + 15) & !15;
    }
    out
}

/// Lays the tables out from `base`, each 16-byte aligned.
pub fn build(base: u64) -> AcpiTables {
    build_with(base, &[])
}

/// As [`build`], with `devices_aml` (a TermList, see `machine::aml`)
/// added to the DSDT: the devices the kernel finds in the namespace.
pub fn build_with(base: u64, devices_aml: &[u8]) -> AcpiTables {
    let align = |n: usize| (n + 15) & !15;
    const RSDP_LEN: usize = 36;
    let dsdt_addr = base + align(RSDP_LEN) as u64;
    let mut aml = dsdt_aml();
    aml.extend_from_slice(devices_aml);
    let dsdt = table(b"DSDT", 2, &aml);
    let fadt_addr = dsdt_addr + align(dsdt.len()) as u64;
    let fadt = table(b"FACP", 6, &fadt_body(dsdt_addr));
    let madt_addr = fadt_addr + align(fadt.len()) as u64;
    let madt = table(b"APIC", 5, &madt_body());
    let xsdt_addr = madt_addr + align(madt.len()) as u64;
    let mut xsdt_body = Vec::new();
    xsdt_body.extend_from_slice(&fadt_addr.to_le_bytes());
    xsdt_body.extend_from_slice(&madt_addr.to_le_bytes());
    let xsdt = table(b"XSDT", 1, &xsdt_body);

    // RSDP (§5.2.5.3), revision 2: the first 20 bytes have their own checksum.
    let mut rsdp = Vec::with_capacity(RSDP_LEN);
    rsdp.extend_from_slice(b"RSD PTR ");
    rsdp.push(0);
    rsdp.extend_from_slice(OEM_ID);
    rsdp.push(2);
    rsdp.extend_from_slice(&0u32.to_le_bytes()); // no RSDT
    rsdp.extend_from_slice(&(RSDP_LEN as u32).to_le_bytes());
    rsdp.extend_from_slice(&xsdt_addr.to_le_bytes());
    rsdp.extend_from_slice(&[0, 0, 0, 0]);
    rsdp[8] = checksum(&rsdp[..20]);
    rsdp[32] = checksum(&rsdp);

    let mut bytes = vec![0u8; (xsdt_addr - base) as usize + xsdt.len()];
    for (addr, t) in [(base, &rsdp), (dsdt_addr, &dsdt), (fadt_addr, &fadt), (madt_addr, &madt), (xsdt_addr, &xsdt)] {
        bytes[(addr - base) as usize..][..t.len()].copy_from_slice(t);
    }
    AcpiTables { bytes, rsdp_addr: base }
}

/// Decodes a write to the sleep control register: `Some(sleep type)` when
/// SLP_EN is set.
pub fn sleep_request(value: u8) -> Option<u8> {
    (value & SLEEP_CONTROL_ENABLE != 0).then_some((value & SLEEP_CONTROL_TYPE_MASK) >> SLEEP_CONTROL_TYPE_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn tables_link_up_and_checksum_to_zero() {
        let base = 0xe0000u64;
        let t = build(base);
        let b = &t.bytes;
        assert_eq!(&b[..8], b"RSD PTR ");
        assert_eq!(b[..20].iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        assert_eq!(b[..36].iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        let xsdt = (u64_at(b, 24) - base) as usize;
        assert_eq!(&b[xsdt..xsdt + 4], b"XSDT");
        let xlen = u32_at(b, xsdt + 4) as usize;
        let mut sigs = Vec::new();
        for i in (xsdt + 36..xsdt + xlen).step_by(8) {
            let off = (u64_at(b, i) - base) as usize;
            let len = u32_at(b, off + 4) as usize;
            assert_eq!(b[off..off + len].iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0, "checksum");
            sigs.push(b[off..off + 4].to_vec());
            if &b[off..off + 4] == b"FACP" {
                assert_eq!(len, 276);
                let dsdt = (u64_at(b, off + 140) - base) as usize;
                assert_eq!(&b[dsdt..dsdt + 4], b"DSDT");
                assert_ne!(u32_at(b, off + 112) & (1 << 20), 0, "hardware-reduced");
                assert_eq!(u64_at(b, off + 248), GED_MMIO_BASE);
                assert_eq!(b[off + 108], 0x32, "CMOS century register");
                assert_eq!(b[off + 109] & (1 << 5), 0, "CMOS RTC present");
            }
        }
        assert_eq!(sigs, vec![b"FACP".to_vec(), b"APIC".to_vec()]);
    }

    #[test]
    fn device_aml_goes_into_the_dsdt() {
        let t = build_with(0xe0000, &[0x5b, 0x82, 0x06, b'A', b'B', b'C', b'D']);
        let (_, dsdt) = each_table(&t).into_iter().find(|(s, _)| s == b"DSDT").unwrap();
        assert!(dsdt.ends_with(&[0x5b, 0x82, 0x06, b'A', b'B', b'C', b'D']));
        assert_eq!(dsdt.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
    }

    #[test]
    fn sleep_control_decoding() {
        assert_eq!(sleep_request((S5_SLEEP_TYPE << 2) | 0x20), Some(S5_SLEEP_TYPE));
        assert_eq!(sleep_request(S5_SLEEP_TYPE << 2), None);
    }
}
