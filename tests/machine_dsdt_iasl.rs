//! The DSDT with the machine's devices, read by ACPICA's disassembler
//! (`iasl -d`, Debian acpica-tools): COM1 and the virtio-mmio devices must
//! come out as the objects Linux binds (PNP0501, LNRO0005) with their
//! windows and interrupts.

use std::process::Command;

#[test]
fn iasl_reads_the_device_objects() {
    let aml = netvm::machine::aml::machine_devices(3);
    let tables = netvm::machine::acpi::build_with(0xe0000, &aml);
    let (_, dsdt) = netvm::machine::acpi::each_table(&tables).into_iter().find(|(s, _)| s == b"DSDT").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dsdt.dat"), &dsdt).unwrap();
    let out = Command::new("iasl")
        .args(["-d", "dsdt.dat"])
        .current_dir(dir.path())
        .output()
        .expect("iasl (Debian acpica-tools, scripts/deps/apt-machine.txt)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "iasl -d failed:\n{log}");
    let dsl = std::fs::read_to_string(dir.path().join("dsdt.dsl")).unwrap();
    assert!(!log.contains("Error") && !dsl.contains("Invalid"), "iasl complains:\n{log}\n{dsl}");
    for needle in [
        "Device (COM1)",
        "EisaId (\"PNP0501\")",
        "IO (Decode16,\n                    0x03F8,",
        "IRQNoFlags ()\n                    {4}",
        "Device (VR00)",
        "Device (VR02)",
        "\"LNRO0005\"",
        "0xFEB00400,         // Address Base",
        "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )\n                {\n                    0x00000007,",
        "_S5",
    ] {
        assert!(dsl.contains(needle), "DSDT lacks {needle:?}:\n{dsl}");
    }
}
