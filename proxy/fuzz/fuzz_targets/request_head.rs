//! The request-head parser and body framing on arbitrary bytes: no
//! panic, no over-read, and a complete head never claims more bytes than
//! it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm_proxy::http::request::{parse, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_head_bytes: 4096,
        max_headers: 16,
    };
    match parse(data, &limits) {
        Ok(Some((head, used))) => {
            assert!(used <= data.len());
            let _ = head.host();
            // Decode whatever follows as this request's body.
            let mut body = head.body.clone();
            let mut rest = &data[used..];
            while !rest.is_empty() && !body.is_done() {
                let Ok(step) = body.advance(rest) else { break };
                assert!(step.framing + step.data <= rest.len());
                if step.framing + step.data == 0 {
                    break;
                }
                body.consume_data(step.data);
                rest = &rest[step.framing + step.data..];
            }
            let _ = body.on_eof();
        }
        Ok(None) => assert!(data.len() < limits.max_head_bytes),
        Err(e) => assert!(matches!(e.status(), 400 | 431 | 501)),
    }
});
