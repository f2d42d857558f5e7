//! The QEMU stream decoder on arbitrary bytes cut at arbitrary points: never
//! panics, and whatever it returns re-encodes to a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm_net::framing::{encode_frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let mut dec = FrameDecoder::default();
    let mut out = Vec::new();
    for chunk in stream.chunks(cut as usize + 1) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => encode_frame(&frame, &mut out),
                Ok(None) | Err(_) => break,
            }
        }
    }
    assert!(stream.starts_with(&out));
});
