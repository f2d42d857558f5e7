//! virtio-9p: a 9P2000.L file server on a virtqueue (the transport Linux's
//! `9pnet_virtio` speaks; device ID 9 in virtio 1.2 §5, config layout from
//! Linux include/uapi/linux/virtio_9p.h).
//!
//! Each chain carries one T-message in its readable part and receives the
//! R-message in its writable part.

pub mod errno;
pub mod server;
pub mod wire;

use crate::backends::fs::FsBackend;
use crate::devices::block::read_bytes;
use crate::devices::virtio::queue::{ChainReader, ChainWriter, QueueError};
use crate::devices::virtio::{Queues, VirtioDevice, DEVICE_ID_9P};

use server::{Server, MAX_MSIZE};

/// The device exposes its mount tag in config space.
const VIRTIO_9P_MOUNT_TAG: u64 = 1 << 0;
const QUEUE_SIZE: u16 = 128;
/// Longest mount tag Linux reads (it allocates tag_len + 1 bytes; QEMU
/// limits tags to MAX_TAG_LEN 32; we are a little more generous).
pub const MAX_TAG_LEN: usize = 255;

pub struct P9 {
    tag: String,
    server: Server,
}

impl P9 {
    /// A 9p device serving `fs` under the mount tag `tag` (e.g. `wasm0`).
    pub fn new(tag: &str, fs: Box<dyn FsBackend>) -> Result<P9, String> {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            return Err(format!("9p mount tag {tag:?} must be 1 to {MAX_TAG_LEN} bytes"));
        }
        Ok(P9 { tag: tag.to_string(), server: Server::new(fs) })
    }
}

impl VirtioDevice for P9 {
    fn device_type(&self) -> u32 {
        DEVICE_ID_9P
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }
    fn device_features(&self) -> u64 {
        VIRTIO_9P_MOUNT_TAG
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_9p_config { le16 tag_len; u8 tag[]; }
        let mut config = Vec::with_capacity(2 + self.tag.len());
        config.extend_from_slice(&(self.tag.len() as u16).to_le_bytes());
        config.extend_from_slice(self.tag.as_bytes());
        read_bytes(&config, offset, data);
    }
    fn reset(&mut self) {
        // A new driver will start with Tversion, which clears the fids.
    }
    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError> {
        while let Some(chain) = queues.pop(index)? {
            let mem = queues.mem();
            // A request is at most msize bytes; more is ignored (the size
            // field decides, and a mismatch is answered with EPROTO).
            let request = ChainReader::new(mem, &chain).read_to_vec(MAX_MSIZE as usize);
            let room = chain.writable_len().min(usize::MAX as u64) as usize;
            let reply = self.server.handle(&request, room);
            let mut writer = ChainWriter::new(queues.mem(), &chain);
            let len = if writer.write_all(&reply).is_some() {
                writer.written()
            } else {
                log::debug!("9p: reply of {} bytes does not fit in {room}", reply.len());
                0
            };
            queues.add_used(index, chain.head, len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
