//! Shows what a guest serial console gets from the terminal through
//! netvm-pty-bridge: puts the terminal in raw mode, prints the window size,
//! then reports every chunk of input as hex and every resize, until it reads
//! a lone `q`. Tested in the browser page (xterm.js + xterm-pty) by
//! scripts/test.d/61-wasm-pty, where Ctrl-C, pasted text and a window
//! resize must arrive as they would on a real serial line.

use netvm_pty_bridge::{ResizeWatch, Terminal, WinSize};

#[cfg(target_os = "emscripten")]
#[path = "../ffi/mod.rs"]
mod ffi;

#[cfg(target_os = "emscripten")]
fn idle() {
    ffi::sleep_ms(5.0);
}

#[cfg(not(target_os = "emscripten"))]
fn idle() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

fn size_text(size: Option<WinSize>) -> String {
    match size {
        Some(s) => format!("{}x{}", s.cols, s.rows),
        None => "unknown".into(),
    }
}

fn run() -> std::io::Result<()> {
    let term = Terminal::stdio();
    let resize = ResizeWatch::install()?;
    let _raw = term.raw_mode()?;
    // Raw mode: no output processing, so lines end in CR LF explicitly.
    let say = |text: &str| term.write_all(format!("pty_echo: {text}\r\n").as_bytes());
    say(&format!("ready, size {}", size_text(term.window_size()?)))?;
    let mut buf = [0u8; 256];
    loop {
        if resize.take() {
            say(&format!("resize {}", size_text(term.window_size()?)))?;
        }
        let n = term.read_available(&mut buf)?;
        if n == 0 {
            idle();
            continue;
        }
        let hex: Vec<String> = buf[..n].iter().map(|b| format!("{b:02x}")).collect();
        say(&format!("got {}", hex.join(" ")))?;
        if &buf[..n] == b"q" {
            say("bye")?;
            return Ok(());
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("pty_echo: {e}");
        std::process::exit(1);
    }
}
