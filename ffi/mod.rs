//! Safe Rust wrappers over netvm's emscripten FFI: emscripten's C API (bound
//! by bindgen from its headers in build.rs) and the shims in `shims.c`.
//!
//! Only compiled for `target_os = "emscripten"`; include it with
//! `#[path = ".../ffi/mod.rs"] mod ffi;`.

// Each program that includes this uses a different subset.
#![allow(dead_code)]

use std::ffi::CString;

/// The raw bindings bindgen generated from `netvm_ffi.h`.
#[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, clippy::all)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/netvm_ffi.rs"));
}

/// Milliseconds since an arbitrary origin, with sub-millisecond resolution
/// (`performance.now()`); monotonic.
pub fn now_ms() -> f64 {
    // SAFETY: no arguments, no preconditions.
    unsafe { sys::emscripten_get_now() }
}

/// Milliseconds since the Unix epoch (`Date.now()`): the wall clock.
pub fn date_now_ms() -> f64 {
    // SAFETY: no arguments, no preconditions.
    unsafe { sys::emscripten_date_now() }
}

/// Blocks the calling thread for `ms` milliseconds (Atomics.wait in a
/// pthread). Use this, not std::thread::sleep, whose timespec has the wrong
/// layout for emscripten 3.1.6 (see docs/browser.md).
pub fn sleep_ms(ms: f64) {
    // SAFETY: no pointers; blocking is allowed off the main browser thread.
    unsafe { sys::emscripten_thread_sleep(ms) }
}

/// Asks the page to set `flag` to 1 whenever its terminal has input, from
/// now on (the program clears it before reading). False when the page has
/// no such terminal (under Node): then poll the TTY instead.
pub fn watch_terminal_input(flag: &'static std::sync::atomic::AtomicI32) -> bool {
    // SAFETY: the flag is a static, so valid for every later write; the page
    // writes it with Atomics.store, as the atomic type expects.
    unsafe { sys::netvm_ffi_watch_input(flag.as_ptr()) == 1 }
}

/// Queues `data` for the page's terminal (only where
/// [`watch_terminal_input`] found one) and returns without waiting for the
/// main thread; `pending` counts the bytes not yet written there.
pub fn write_terminal(data: &[u8], pending: &'static std::sync::atomic::AtomicI32) -> std::io::Result<()> {
    let len = i32::try_from(data.len()).map_err(|_| std::io::Error::other("terminal write too large"))?;
    // The page frees the copy with free() once written.
    // SAFETY: a fresh allocation of data.len() bytes (checked for NULL)
    // receives a copy of data; ownership passes to the page.
    unsafe {
        let copy = libc::malloc(data.len().max(1)).cast::<u8>();
        if copy.is_null() {
            return Err(std::io::Error::from(std::io::ErrorKind::OutOfMemory));
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), copy, data.len());
        pending.fetch_add(len, std::sync::atomic::Ordering::AcqRel);
        sys::netvm_ffi_write_terminal(copy.cast(), len, pending.as_ptr());
    }
    Ok(())
}

/// Interior NULs cannot cross into C; they are replaced rather than lost.
fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{fffd}")).expect("NULs were replaced")
}

/// Sets the page's status line.
pub fn set_status(text: &str) {
    let text = c_string(text);
    // SAFETY: a valid NUL-terminated string that outlives the synchronous call.
    unsafe { sys::netvm_ffi_set_status(text.as_ptr()) }
}

/// Sends a named event to the page (`Module.onNetvmEvent`, `netvm` DOM event).
pub fn emit(name: &str, detail: &str) {
    let (name, detail) = (c_string(name), c_string(detail));
    // SAFETY: valid NUL-terminated strings that outlive the synchronous call.
    unsafe { sys::netvm_ffi_emit(name.as_ptr(), detail.as_ptr()) }
}

/// The URL emscripten's socket emulation opens for a `connect()`
/// (`Module.websocket.url`), if the page set one.
pub fn websocket_url() -> Option<String> {
    let mut buf = vec![0u8; 2048];
    // SAFETY: buf is writable for buf.len() bytes; the shim writes at most that.
    let n = unsafe { sys::netvm_ffi_websocket_url(buf.as_mut_ptr().cast(), buf.len() as i32) };
    let n = usize::try_from(n).ok()?;
    buf.truncate(n);
    String::from_utf8(buf).ok()
}
