//! virtio-blk (virtio 1.2 §5.2) on a [`BlockBackend`].

use crate::backends::block::BlockBackend;
use crate::devices::virtio::queue::{Buffer, ChainReader, DescriptorChain, QueueError};
use crate::devices::virtio::{Queues, VirtioDevice, DEVICE_ID_BLOCK};

/// Sector size of the virtio-blk interface, whatever the backend (§5.2.4).
pub const SECTOR_SIZE: u64 = 512;
const QUEUE_SIZE: u16 = 256;

/// Feature bits (§5.2.3).
const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
const VIRTIO_BLK_F_RO: u64 = 1 << 5;
const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;

/// Request types (§5.2.6).
const VIRTIO_BLK_T_IN: u32 = 0;
const VIRTIO_BLK_T_OUT: u32 = 1;
const VIRTIO_BLK_T_FLUSH: u32 = 4;
const VIRTIO_BLK_T_GET_ID: u32 = 8;

/// Request status (§5.2.6).
const VIRTIO_BLK_S_OK: u8 = 0;
const VIRTIO_BLK_S_IOERR: u8 = 1;
const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// GET_ID answers with this many bytes (§5.2.6: "20 bytes").
const ID_BYTES: usize = 20;

/// A virtio block device.
pub struct Block {
    backend: Box<dyn BlockBackend>,
    warnings: crate::devices::WarnBudget,
}

/// Why one request failed: answered with IOERR or UNSUPP.
#[derive(Debug)]
enum RequestError {
    /// Malformed or out-of-range request: IOERR.
    Bad(String),
    /// The backend failed: IOERR.
    Io(std::io::Error),
    /// Unknown request type: UNSUPP.
    Unsupported(u32),
}

impl Block {
    pub fn new(backend: Box<dyn BlockBackend>) -> Block {
        Block { backend, warnings: Default::default() }
    }

    /// Capacity in 512-byte sectors (a trailing partial sector is not exposed).
    pub fn capacity_sectors(&self) -> u64 {
        self.backend.len() / SECTOR_SIZE
    }

    fn handle(&mut self, queues: &mut Queues, chain: &DescriptorChain) -> u32 {
        // The status byte is the last device-writable byte (§5.2.6).
        let Some(status_at) = status_location(chain) else {
            log::debug!("virtio-blk: request {} has no room for a status byte", chain.head);
            return 0;
        };
        let data_out = data_segments(&chain.writable, chain.writable_len() - 1);
        let mem = queues.mem();
        let mut header = [0u8; 16];
        let mut reader = ChainReader::new(mem, chain);
        let (status, written) = if reader.read_exact(&mut header).is_none() {
            log::debug!("virtio-blk: request {} shorter than its header", chain.head);
            (VIRTIO_BLK_S_IOERR, 0)
        } else {
            let kind = u32::from_le_bytes(header[0..4].try_into().unwrap());
            let sector = u64::from_le_bytes(header[8..16].try_into().unwrap());
            // Data the driver sends follows the header in the readable part.
            let mut data_in = Vec::new();
            let mut skip = 16u64;
            for b in &chain.readable {
                let take = (b.len as u64).saturating_sub(skip);
                if take > 0 {
                    data_in.push(Buffer { addr: b.addr + (b.len as u64 - take), len: take as u32 });
                }
                skip = skip.saturating_sub(b.len as u64);
            }
            match self.execute(mem, kind, sector, &data_in, &data_out) {
                Ok(n) => (VIRTIO_BLK_S_OK, n),
                Err(RequestError::Unsupported(t)) => {
                    log::debug!("virtio-blk: unsupported request type {t}");
                    (VIRTIO_BLK_S_UNSUPP, 0)
                }
                Err(RequestError::Bad(why)) => {
                    log::debug!("virtio-blk: bad request: {why}");
                    (VIRTIO_BLK_S_IOERR, 0)
                }
                Err(RequestError::Io(e)) => {
                    log::log!(self.warnings.level(), "virtio-blk: backend error: {e}");
                    (VIRTIO_BLK_S_IOERR, 0)
                }
            }
        };
        if mem.write(status_at, &[status]).is_err() {
            return 0;
        }
        written + 1
    }

    /// Runs one request; returns how many data bytes were written to the guest.
    fn execute(
        &mut self,
        mem: &mut crate::memory::GuestMemory,
        kind: u32,
        sector: u64,
        data_in: &[Buffer],
        data_out: &[Buffer],
    ) -> Result<u32, RequestError> {
        match kind {
            VIRTIO_BLK_T_IN => {
                let len: u64 = data_out.iter().map(|b| b.len as u64).sum();
                let mut offset = self.check_range(sector, len)?;
                for b in data_out {
                    let dst = mem.slice_mut(b.addr, b.len as u64).map_err(|e| RequestError::Bad(e.to_string()))?;
                    self.backend.read_at(offset, dst).map_err(RequestError::Io)?;
                    offset += b.len as u64;
                }
                Ok(len as u32)
            }
            VIRTIO_BLK_T_OUT => {
                if self.backend.is_read_only() {
                    return Err(RequestError::Bad("write to a read-only disk".into()));
                }
                let len: u64 = data_in.iter().map(|b| b.len as u64).sum();
                let mut offset = self.check_range(sector, len)?;
                for b in data_in {
                    let src = mem.slice(b.addr, b.len as u64).map_err(|e| RequestError::Bad(e.to_string()))?;
                    self.backend.write_at(offset, src).map_err(RequestError::Io)?;
                    offset += b.len as u64;
                }
                Ok(0)
            }
            VIRTIO_BLK_T_FLUSH => self.backend.flush().map(|_| 0).map_err(RequestError::Io),
            VIRTIO_BLK_T_GET_ID => {
                let mut id = [0u8; ID_BYTES];
                let src = self.backend.id().as_bytes();
                let n = src.len().min(ID_BYTES);
                id[..n].copy_from_slice(&src[..n]);
                let mut done = 0usize;
                for b in data_out {
                    if done == ID_BYTES {
                        break;
                    }
                    let n = (b.len as usize).min(ID_BYTES - done);
                    mem.write(b.addr, &id[done..done + n]).map_err(|e| RequestError::Bad(e.to_string()))?;
                    done += n;
                }
                Ok(done as u32)
            }
            other => Err(RequestError::Unsupported(other)),
        }
    }

    /// Byte offset of `sector` if `len` bytes from there fit on the disk.
    fn check_range(&self, sector: u64, len: u64) -> Result<u64, RequestError> {
        if len % SECTOR_SIZE != 0 {
            return Err(RequestError::Bad(format!("data length {len} is not a multiple of {SECTOR_SIZE}")));
        }
        let end_sector = sector.checked_add(len / SECTOR_SIZE);
        match end_sector {
            Some(end) if end <= self.capacity_sectors() => Ok(sector * SECTOR_SIZE),
            _ => Err(RequestError::Bad(format!(
                "{len} bytes at sector {sector} beyond capacity {} sectors",
                self.capacity_sectors()
            ))),
        }
    }
}

/// Guest address of the last device-writable byte.
fn status_location(chain: &DescriptorChain) -> Option<u64> {
    let last = chain.writable.iter().rev().find(|b| b.len > 0)?;
    Some(last.addr + last.len as u64 - 1)
}

/// The first `len` bytes of `buffers`, as buffers.
fn data_segments(buffers: &[Buffer], len: u64) -> Vec<Buffer> {
    let mut left = len;
    let mut out = Vec::new();
    for b in buffers {
        if left == 0 {
            break;
        }
        let take = (b.len as u64).min(left);
        if take > 0 {
            out.push(Buffer { addr: b.addr, len: take as u32 });
        }
        left -= take;
    }
    out
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        DEVICE_ID_BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn device_features(&self) -> u64 {
        let ro = if self.backend.is_read_only() { VIRTIO_BLK_F_RO } else { 0 };
        VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_SEG_MAX | ro
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_blk_config (§5.2.4): capacity, size_max, seg_max.
        let mut config = [0u8; 16];
        config[0..8].copy_from_slice(&self.capacity_sectors().to_le_bytes());
        // Chains have at most QUEUE_SIZE descriptors; two go to header and status.
        config[12..16].copy_from_slice(&(QUEUE_SIZE as u32 - 2).to_le_bytes());
        read_bytes(&config, offset, data);
    }

    fn reset(&mut self) {}

    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError> {
        while let Some(chain) = queues.pop(index)? {
            let len = self.handle(queues, &chain);
            queues.add_used(index, chain.head, len)?;
        }
        Ok(())
    }
}

/// Copies the part of `config` at `offset` into `data`; the rest reads as 0.
pub(crate) fn read_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = offset.checked_add(i as u64).and_then(|at| config.get(usize::try_from(at).ok()?)).copied().unwrap_or(0);
    }
}

#[cfg(test)]
mod tests;
