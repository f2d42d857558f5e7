//! Host services devices reach through traits: block storage, network
//! frames, a directory tree for 9p, time, the console terminal, entropy.
//!
//! Each trait has implementations here built on `std` (files, sockets, the
//! clock); these also compile for wasm32-unknown-emscripten, where
//! emscripten maps files to its FS and TCP sockets to WebSockets. What
//! must differ between the two hosts is chosen in [`host`], the only
//! place that knows where netvm runs. A backend never knows which device
//! drives it; the machine picks one per device at construction.

pub mod block;
pub mod clock;
pub mod entropy;
pub mod fs;
pub mod host;
pub mod net;
pub mod sparse;
pub mod terminal;
