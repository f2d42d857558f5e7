//! A smoltcp [`Device`] over two frame queues: frames the guest sent wait in
//! `rx` until the interface polls them; frames the interface emits collect in
//! `tx` until the transport takes them. No OS involved, so it builds for wasm.

use std::collections::VecDeque;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::consts::MTU;

/// Frames queued towards the guest beyond this count are dropped (and
/// counted): Ethernet may lose frames and TCP recovers, whereas an unbounded
/// queue would let a stalled transport eat the host's memory.
pub const MAX_QUEUED_FRAMES: usize = 4096;

#[derive(Debug, Default)]
pub struct QueueDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
    /// Frames dropped because `tx` was full.
    pub tx_dropped: u64,
}

impl QueueDevice {
    /// Queues a frame for the guest, dropping it if the queue is full.
    pub fn send(&mut self, frame: Vec<u8>) {
        if self.tx.len() >= MAX_QUEUED_FRAMES {
            self.tx_dropped += 1;
            if self.tx_dropped.is_power_of_two() {
                log::warn!("guest link congested: {} frames dropped so far", self.tx_dropped);
            }
            return;
        }
        self.tx.push_back(frame);
    }
}

pub struct RxToken(Vec<u8>);

pub struct TxToken<'a>(&'a mut QueueDevice);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0.send(frame);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(self)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU + crate::consts::ETHERNET_HEADER_LEN;
        caps
    }
}
