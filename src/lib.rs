//! netvm: a machine emulator that boots x86_64 Linux natively or inside a web
//! browser (wasm32-unknown-emscripten), with real networking.

pub mod backends;
pub mod cpu;
pub mod devices;
pub mod machine;
pub mod memory;

#[cfg(test)]
mod test_util;
