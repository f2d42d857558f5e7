//! Virtio (virtio 1.2): the split virtqueue, the MMIO transport and the
//! interface every virtio device implements.
//!
//! A device sees only its queues and guest memory through [`Queues`]; the
//! transport ([`mmio::MmioTransport`]) owns registers, feature negotiation,
//! status, and the interrupt line.

pub mod guest_driver;
pub mod mmio;
pub mod queue;

use crate::memory::GuestMemory;
use queue::{DescriptorChain, PopError, Queue, QueueError};

/// Device IDs (virtio 1.2 §5).
pub const DEVICE_ID_NET: u32 = 1;
pub const DEVICE_ID_BLOCK: u32 = 2;
pub const DEVICE_ID_CONSOLE: u32 = 3;
pub const DEVICE_ID_ENTROPY: u32 = 4;
pub const DEVICE_ID_9P: u32 = 9;

/// Reserved feature bits the transport handles for every device (§6).
pub const VIRTIO_F_RING_INDIRECT_DESC: u64 = 1 << 28;
pub const VIRTIO_F_RING_EVENT_IDX: u64 = 1 << 29;
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// Device status bits (§2.1).
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 64;
pub const STATUS_FAILED: u32 = 128;

/// Interrupt status bits (§4.2.2, InterruptStatus).
pub const INT_USED_BUFFER: u32 = 1;
pub const INT_CONFIG_CHANGE: u32 = 2;

/// The device-type specific part of a virtio device. The transport calls
/// it; it never knows which transport (or host) it runs on.
pub trait VirtioDevice {
    /// Device ID (§5).
    fn device_type(&self) -> u32;
    /// Largest size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// Device-type feature bits offered; the transport adds VERSION_1,
    /// INDIRECT_DESC and EVENT_IDX itself.
    fn device_features(&self) -> u64;
    /// The feature bits the driver accepted (all of them, transport ones too),
    /// called when the driver sets FEATURES_OK.
    fn ack_features(&mut self, _features: u64) {}
    /// Reads device configuration space (§4.2.2, offset 0x100 onwards).
    /// Bytes outside the structure read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes device configuration space; most devices ignore writes.
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver set DRIVER_OK: queues are live.
    fn activate(&mut self) {}
    /// The driver wrote 0 to Status (§2.1.2): drop in-flight state.
    fn reset(&mut self);
    /// The driver notified queue `index`.
    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError>;
    /// Called by the transport's `process` whether or not anything was
    /// notified: lets backend-driven devices (network receive) make progress.
    fn poll(&mut self, _queues: &mut Queues) -> Result<(), QueueError> {
        Ok(())
    }
}

/// A device's view of its queues and guest memory during one `notify` or
/// `poll`. Records which queues got used buffers, so the transport can
/// decide about interrupts afterwards.
pub struct Queues<'a> {
    queues: &'a mut [Queue],
    mem: &'a mut GuestMemory,
    used: u64,
    config_changed: bool,
}

impl<'a> Queues<'a> {
    pub fn new(queues: &'a mut [Queue], mem: &'a mut GuestMemory) -> Queues<'a> {
        Queues { queues, mem, used: 0, config_changed: false }
    }

    /// Guest memory, for reading and writing chain buffers.
    pub fn mem(&mut self) -> &mut GuestMemory {
        self.mem
    }

    /// Whether queue `index` exists and the driver made it ready.
    pub fn is_ready(&self, index: usize) -> bool {
        self.queues.get(index).is_some_and(|q| q.is_valid(self.mem))
    }

    /// Takes the next valid chain from queue `index`. A malformed chain is
    /// returned to the driver with length 0 (logged at debug) and the next one
    /// is tried; broken rings are an error the transport turns into
    /// DEVICE_NEEDS_RESET. Returns `Ok(None)` when the queue is empty or not
    /// ready.
    pub fn pop(&mut self, index: usize) -> Result<Option<DescriptorChain>, QueueError> {
        let Some(queue) = self.queues.get_mut(index) else { return Ok(None) };
        if !queue.is_valid(self.mem) {
            return Ok(None);
        }
        // Bounded: each round consumes one available entry.
        for _ in 0..=queue.size {
            match queue.pop(self.mem) {
                Ok(chain) => return Ok(chain),
                Err(PopError::Chain { head, error }) => {
                    log::debug!("virtio queue {index}: dropping malformed chain {head}: {error}");
                    queue.add_used(self.mem, head, 0)?;
                    self.used |= 1 << index;
                }
                Err(PopError::Fatal(e)) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Puts the last popped chain back (it will be popped again).
    pub fn undo_pop(&mut self, index: usize) {
        if let Some(q) = self.queues.get_mut(index) {
            q.undo_pop();
        }
    }

    /// Returns a chain to the driver with `len` bytes written.
    pub fn add_used(&mut self, index: usize, head: u16, len: u32) -> Result<(), QueueError> {
        let queue = self.queues.get_mut(index).ok_or(QueueError::NotReady)?;
        queue.add_used(self.mem, head, len)?;
        self.used |= 1 << index;
        Ok(())
    }

    /// The device changed its configuration space (e.g. link status); the
    /// transport notifies the driver (§2.5.1, configuration change).
    pub fn signal_config_change(&mut self) {
        self.config_changed = true;
    }

    /// Whether `signal_config_change` was called.
    pub fn config_changed(&self) -> bool {
        self.config_changed
    }

    /// Bitmask of queues that got used buffers.
    pub fn used_mask(&self) -> u64 {
        self.used
    }
}
