//! virtio-net (virtio 1.2 §5.1) on a [`FrameBackend`].
//!
//! One receive and one transmit queue, no offloads: every frame is a plain
//! Ethernet frame behind the 12-byte `virtio_net_hdr` (§5.1.6; with
//! VERSION_1 the header always has `num_buffers`).

use crate::backends::net::FrameBackend;
use crate::devices::block::read_bytes;
use crate::devices::virtio::queue::{ChainReader, ChainWriter, QueueError};
use crate::devices::virtio::{Queues, VirtioDevice, DEVICE_ID_NET};

const RX_QUEUE: usize = 0;
const TX_QUEUE: usize = 1;
const QUEUE_SIZE: u16 = 256;

/// Feature bits (§5.1.3).
const VIRTIO_NET_F_MAC: u64 = 1 << 5;
const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// Link status bit in config `status` (§5.1.4).
const VIRTIO_NET_S_LINK_UP: u16 = 1;

/// Size of `struct virtio_net_hdr` with VERSION_1 (§5.1.6).
pub const NET_HDR_LEN: usize = 12;
/// Largest frame the guest may send without offloads, with slack for VLAN
/// tags; longer transmit chains are dropped.
pub const MAX_TX_FRAME: usize = 65535;
/// Largest frame we hand to the guest (no GSO offered): Ethernet + VLAN.
const MAX_RX_FRAME: usize = 1522;

pub struct Net {
    mac: [u8; 6],
    backend: Box<dyn FrameBackend>,
    /// A received frame waiting for a receive buffer.
    rx_frame: Option<Vec<u8>>,
    /// Scratch space for the backend to receive into (reused: `poll` runs
    /// on every time slice).
    rx_buf: Vec<u8>,
    /// Backend errors are reported once, then the link is down and quiet.
    backend_failed: bool,
    /// The link went down and the driver has not been told yet.
    link_change_pending: bool,
}

impl Net {
    pub fn new(mac: [u8; 6], backend: Box<dyn FrameBackend>) -> Net {
        Net { mac, backend, rx_frame: None, rx_buf: vec![0; MAX_RX_FRAME], backend_failed: false, link_change_pending: false }
    }

    fn backend_error(&mut self, e: std::io::Error) {
        if !self.backend_failed {
            log::warn!("virtio-net: backend: {e}; link down, frames are dropped from now on");
            self.link_change_pending = true;
        }
        self.backend_failed = true;
    }

    /// Sends what the guest queued; stops early (leaving chains queued) if
    /// the backend pushes back.
    fn transmit(&mut self, queues: &mut Queues) -> Result<(), QueueError> {
        while let Some(chain) = queues.pop(TX_QUEUE)? {
            let mem = queues.mem();
            let total = chain.readable_len();
            if total < NET_HDR_LEN as u64 || total > (NET_HDR_LEN + MAX_TX_FRAME) as u64 {
                log::debug!("virtio-net: dropping transmit chain of {total} bytes");
                queues.add_used(TX_QUEUE, chain.head, 0)?;
                continue;
            }
            let mut reader = ChainReader::new(mem, &chain);
            let packet = reader.read_to_vec(total as usize);
            let frame = &packet[NET_HDR_LEN..];
            match self.backend.send(frame) {
                Ok(true) => {}
                Ok(false) => {
                    queues.undo_pop(TX_QUEUE);
                    return Ok(());
                }
                Err(e) => self.backend_error(e),
            }
            queues.add_used(TX_QUEUE, chain.head, 0)?;
        }
        Ok(())
    }

    /// Moves received frames into the guest's receive buffers while both exist.
    fn receive(&mut self, queues: &mut Queues) -> Result<(), QueueError> {
        // Bounded per poll so a flood cannot starve the CPU.
        for _ in 0..QUEUE_SIZE {
            if self.rx_frame.is_none() {
                match self.backend.recv(&mut self.rx_buf) {
                    Ok(Some(n)) => self.rx_frame = Some(self.rx_buf[..n].to_vec()),
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        self.backend_error(e);
                        return Ok(());
                    }
                }
            }
            let Some(chain) = queues.pop(RX_QUEUE)? else {
                // No buffer: keep the frame until the guest posts one.
                return Ok(());
            };
            let frame = self.rx_frame.take().unwrap_or_default();
            let mut header = [0u8; NET_HDR_LEN];
            // num_buffers = 1 (§5.1.6.4: set even without MRG_RXBUF).
            header[10..12].copy_from_slice(&1u16.to_le_bytes());
            if chain.writable_len() < (NET_HDR_LEN + frame.len()) as u64 {
                log::debug!(
                    "virtio-net: receive buffer of {} bytes too small for a {}-byte frame; frame dropped",
                    chain.writable_len(),
                    frame.len()
                );
                queues.add_used(RX_QUEUE, chain.head, 0)?;
                continue;
            }
            let mut writer = ChainWriter::new(queues.mem(), &chain);
            writer.write_all(&header);
            writer.write_all(&frame);
            let len = writer.written();
            queues.add_used(RX_QUEUE, chain.head, len)?;
        }
        Ok(())
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        DEVICE_ID_NET
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }
    fn device_features(&self) -> u64 {
        VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_net_config (§5.1.4): mac[6], status.
        let mut config = [0u8; 8];
        config[..6].copy_from_slice(&self.mac);
        let status = if self.backend_failed { 0 } else { VIRTIO_NET_S_LINK_UP };
        config[6..8].copy_from_slice(&status.to_le_bytes());
        read_bytes(&config, offset, data);
    }
    fn reset(&mut self) {
        self.rx_frame = None;
    }
    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError> {
        match index {
            TX_QUEUE => self.transmit(queues),
            // New receive buffers: deliver what is waiting.
            RX_QUEUE => self.receive(queues),
            _ => Ok(()),
        }
    }
    fn poll(&mut self, queues: &mut Queues) -> Result<(), QueueError> {
        // Bytes the backend buffered, transmit chains left behind by
        // backpressure, then receive.
        if let Err(e) = self.backend.flush() {
            self.backend_error(e);
        }
        self.transmit(queues)?;
        let result = self.receive(queues);
        if std::mem::take(&mut self.link_change_pending) {
            queues.signal_config_change();
        }
        result
    }
}

#[cfg(test)]
mod tests;
