//! The machine's devices as ACPI namespace objects (ACPI 6.4 ch. 19/20 AML
//! encoding, ch. 6.4 resource descriptors), added to the DSDT.
//!
//! Why the namespace and not `virtio_mmio.device=` entries: the kernel runs
//! with a hardware-reduced FADT and an MADT, so Linux gives the I/O APIC a
//! dynamic IRQ domain (arch/x86/kernel/acpi/boot.c, `acpi_parse_ioapic`:
//! legacy identity numbering only below `nr_legacy_irqs()`, which is 0
//! without a PIC). GSI 5 is then not Linux IRQ 5, and an IRQ number on the
//! command line cannot be requested; a device whose `_CRS` names its GSI
//! gets it mapped (`acpi_register_gsi`). QEMU microvm does the same with
//! ACPI on. COM1 is described too (PNP0501) so that 8250_pnp gives the
//! legacy port its mapped IRQ.

/// Encodes a PkgLength (§20.2.4) for `content_len` bytes that follow it;
/// the length counts the encoding itself.
fn pkg_length(content_len: usize) -> Vec<u8> {
    for n in 1..=4usize {
        let total = content_len + n;
        let fits = match n {
            1 => total < 0x40,
            _ => total < 1 << (4 + 8 * (n - 1)),
        };
        if fits {
            if n == 1 {
                return vec![total as u8];
            }
            let mut out = vec![((n - 1) << 6) as u8 | (total & 0xf) as u8];
            for i in 0..n - 1 {
                out.push((total >> (4 + 8 * i)) as u8);
            }
            return out;
        }
    }
    unreachable!("AML packages here are small")
}

fn with_pkg(op: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = op.to_vec();
    out.extend(pkg_length(content.len()));
    out.extend_from_slice(content);
    out
}

/// `Name (NAME, value)`.
fn name(seg: &[u8; 4], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08];
    out.extend_from_slice(seg);
    out.extend_from_slice(value);
    out
}

fn string(s: &str) -> Vec<u8> {
    let mut out = vec![0x0d];
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    out
}

fn dword(v: u32) -> Vec<u8> {
    let mut out = vec![0x0c];
    out.extend_from_slice(&v.to_le_bytes());
    out
}

/// A compressed EISA ID such as PNP0501 (§19.6.43, EISAID).
fn eisa_id(id: &str) -> Vec<u8> {
    let b = id.as_bytes();
    let letters =
        (((b[0] - 0x40) as u16 & 0x1f) << 10) | (((b[1] - 0x40) as u16 & 0x1f) << 5) | ((b[2] - 0x40) as u16 & 0x1f);
    let product = u16::from_str_radix(&id[3..7], 16).unwrap_or(0);
    let [l0, l1] = letters.to_be_bytes();
    let [p0, p1] = product.to_be_bytes();
    dword(u32::from_le_bytes([l0, l1, p0, p1]))
}

/// `Buffer` holding a resource template: the descriptors plus the end tag.
fn resource_template(descriptors: &[u8]) -> Vec<u8> {
    let mut bytes = descriptors.to_vec();
    bytes.extend_from_slice(&[0x79, 0]); // End Tag, checksum 0 = not checked
    let mut content = vec![0x0a, bytes.len() as u8]; // BufferSize as a ByteConst
    content.extend_from_slice(&bytes);
    with_pkg(&[0x11], &content)
}

fn device(seg: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut content = seg.to_vec();
    content.extend_from_slice(body);
    with_pkg(&[0x5b, 0x82], &content)
}

/// COM1 (PNP0501) at `port` with ISA `irq` (§6.4.2.1 IRQ, §6.4.2.5 I/O).
pub fn serial_port(seg: &[u8; 4], uid: u8, port: u16, irq: u8) -> Vec<u8> {
    let [plo, phi] = port.to_le_bytes();
    let mask = (1u16 << irq).to_le_bytes();
    let crs = resource_template(&[0x47, 0x01, plo, phi, plo, phi, 0x01, 0x08, 0x22, mask[0], mask[1]]);
    let mut body = name(b"_HID", &eisa_id("PNP0501"));
    body.extend(name(b"_UID", &[0x0a, uid]));
    body.extend(name(b"_CRS", &crs));
    device(seg, &body)
}

/// A virtio-mmio device (LNRO0005, the ID Linux's virtio_mmio matches) with
/// its register window and an edge-triggered, active-high GSI
/// (§6.4.3.4 Memory32Fixed, §6.4.3.6 Extended Interrupt).
pub fn virtio_mmio(seg: &[u8; 4], uid: u8, base: u32, size: u32, gsi: u32) -> Vec<u8> {
    let mut d = vec![0x86, 0x09, 0x00, 0x01];
    d.extend_from_slice(&base.to_le_bytes());
    d.extend_from_slice(&size.to_le_bytes());
    // Consumer, edge, active high, exclusive; one interrupt.
    d.extend_from_slice(&[0x89, 0x06, 0x00, 0x03, 0x01]);
    d.extend_from_slice(&gsi.to_le_bytes());
    let mut body = name(b"_HID", &string("LNRO0005"));
    body.extend(name(b"_UID", &[0x0a, uid]));
    body.extend(name(b"_CCA", &[0x01])); // cache-coherent DMA
    body.extend(name(b"_CRS", &resource_template(&d)));
    device(seg, &body)
}

/// The machine's devices in `\_SB`: COM1 and `virtio_count` virtio-mmio
/// windows from `VIRTIO_MMIO_BASE` with GSIs from `VIRTIO_MMIO_FIRST_IRQ`.
pub fn machine_devices(virtio_count: usize) -> Vec<u8> {
    use super::layout::*;
    let mut objects = serial_port(b"COM1", 1, COM1_PORT, COM1_IRQ as u8);
    for i in 0..virtio_count.min(100) {
        let base = VIRTIO_MMIO_BASE + i as u64 * VIRTIO_MMIO_SIZE;
        let gsi = VIRTIO_MMIO_FIRST_IRQ + i as u32;
        let seg = [b'V', b'R', b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        objects.extend(virtio_mmio(&seg, i as u8, base as u32, VIRTIO_MMIO_SIZE as u32, gsi));
    }
    system_bus(&objects)
}

/// `Scope (\_SB) { ... }` around `objects`.
pub fn system_bus(objects: &[u8]) -> Vec<u8> {
    let mut content = b"\\_SB_".to_vec();
    content.extend_from_slice(objects);
    with_pkg(&[0x10], &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_lengths_count_themselves() {
        assert_eq!(pkg_length(0x3e), vec![0x3f]);
        // 0x3f + 2 = 0x41: two bytes, low nibble in the lead byte.
        assert_eq!(pkg_length(0x3f), vec![0x41, 0x04]);
        let p = pkg_length(0x1000);
        let total = 0x1000 + p.len();
        assert_eq!(p[0] >> 6, (p.len() - 1) as u8);
        assert_eq!((p[0] & 0xf) as usize | (p[1] as usize) << 4 | (p[2] as usize) << 12, total);
    }

    #[test]
    fn eisa_ids_compress_as_iasl_does() {
        // iasl: EisaId ("PNP0501") = 0x0105D041.
        assert_eq!(eisa_id("PNP0501"), dword(0x0105_d041));
    }

    #[test]
    fn a_virtio_device_is_well_formed() {
        let d = virtio_mmio(b"VR00", 0, 0xfeb0_0000, 0x200, 5);
        assert_eq!(&d[..2], &[0x5b, 0x82]);
        // A two-byte PkgLength covering the rest of the object.
        assert_eq!(d[2] >> 6, 1);
        assert_eq!((d[2] & 0xf) as usize | (d[3] as usize) << 4, d.len() - 2);
        assert_eq!(&d[4..8], b"VR00");
        let hid = d.windows(9).position(|w| w == b"LNRO0005\0").unwrap();
        assert!(hid > 0);
        // The interrupt descriptor carries GSI 5.
        assert!(d.windows(9).any(|w| w == [0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0]));
        let scope = system_bus(&d);
        assert_eq!(&scope[scope.len() - d.len()..], &d[..]);
    }
}
