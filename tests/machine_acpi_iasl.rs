//! The machine's ACPI tables, read by a real ACPI implementation: the ACPICA
//! disassembler (`iasl -d`, Debian's acpica-tools) must parse every table
//! and find the `_S5` object the kernel needs to power off.

use std::process::Command;

#[test]
fn iasl_disassembles_every_table() {
    let tables = netvm::machine::acpi::build(0xe0000);
    let dir = tempfile::tempdir().unwrap();
    let all = netvm::machine::acpi::each_table(&tables);
    let sigs: Vec<String> = all.iter().map(|(s, _)| String::from_utf8_lossy(s).into_owned()).collect();
    assert_eq!(sigs, ["DSDT", "FACP", "APIC", "XSDT"]);
    for (sig, bytes) in &all {
        let sig = String::from_utf8_lossy(sig).to_lowercase();
        let file = dir.path().join(format!("{sig}.dat"));
        std::fs::write(&file, bytes).unwrap();
        let out = Command::new("iasl")
            .arg("-d")
            .arg(&file)
            .current_dir(dir.path())
            .output()
            .expect("iasl (Debian acpica-tools, installed by scripts/setup)");
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "iasl -d {sig}.dat failed:\n{log}");
        let dsl = std::fs::read_to_string(dir.path().join(format!("{sig}.dsl"))).unwrap();
        assert!(!dsl.contains("Invalid") && !log.contains("Error"), "{sig}: iasl complains:\n{log}\n{dsl}");
        match sig.as_str() {
            "dsdt" => assert!(dsl.contains("_S5") && dsl.contains("0x05"), "DSDT lacks _S5:\n{dsl}"),
            "facp" => {
                assert!(dsl.contains("Hardware Reduced (V5) : 1"), "FADT is not hardware-reduced:\n{dsl}");
                assert!(dsl.contains("Sleep Control Register"), "{dsl}");
            }
            "apic" => assert!(dsl.contains("I/O APIC") && dsl.contains("Processor Local APIC"), "{dsl}"),
            _ => {}
        }
    }
}
