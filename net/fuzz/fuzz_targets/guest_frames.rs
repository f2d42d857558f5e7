//! A whole virtual network fed arbitrary guest frames (split from the input
//! at 0xff 0x00 markers), with the clock stepping between them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm_net::upstream::Isolated;
use netvm_net::{NetworkConfig, VirtualNetwork};
use smoltcp::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::ZERO;
    let mut net = VirtualNetwork::new(NetworkConfig::default(), Box::new(Isolated), now);
    let mut start = 0;
    for i in 0..=data.len() {
        let end = i == data.len() || (data[i] == 0xff && data.get(i + 1) == Some(&0));
        if end {
            net.receive_frame(&data[start..i], now);
            net.poll(now);
            while net.pop_frame().is_some() {}
            now += Duration::from_millis(100);
            start = i + 2;
            if start > data.len() {
                break;
            }
        }
    }
    net.poll(now + Duration::from_secs(60));
});
