//! The netvm machine: memory map, direct kernel boot, platform tables.

pub mod acpi;
pub mod boot;
pub mod layout;
