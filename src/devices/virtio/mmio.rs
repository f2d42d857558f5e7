//! The virtio-mmio transport, version 2 ("modern", virtio 1.2 §4.2).
//!
//! The machine maps [`MMIO_SIZE`] bytes at some base, forwards guest reads
//! and writes there to [`MmioTransport::read`] / [`MmioTransport::write`],
//! and calls [`MmioTransport::process`] after writes and periodically: queue
//! work (DMA) happens there, never inside a register access, so the CPU may
//! hold guest memory while it performs the access.

use crate::devices::{Interrupt, WarnBudget};
use crate::memory::GuestMemory;

use super::queue::Queue;
use super::*;

/// Bytes of MMIO space one device occupies (registers 0x000-0x0ff plus
/// config space), as QEMU microvm and Firecracker map it.
pub const MMIO_SIZE: u64 = 0x200;

/// "virt" in little-endian (§4.2.2, MagicValue).
const MAGIC: u32 = 0x7472_6976;
/// Modern transport (§4.2.4 describes version 1 as legacy).
const VERSION: u32 = 2;
/// Vendor ID; virtio leaves it free. QEMU reports "QEMU" (0x554d4551); we
/// report "NVM\0".
const VENDOR_ID: u32 = 0x004d_564e;

/// Register offsets (§4.2.2, table "MMIO Device Register Layout").
mod reg {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const SHM_SEL: u64 = 0x0ac;
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    pub const SHM_BASE_LOW: u64 = 0x0b8;
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    pub const CONFIG: u64 = 0x100;
}

/// Renders the kernel command line entry that makes Linux probe a
/// virtio-mmio device without ACPI or a device tree
/// (`virtio_mmio.device=<size>@<baseaddr>:<irq>`, Linux
/// drivers/virtio/virtio_mmio.c, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
pub fn kernel_cmdline_entry(base: u64, size: u64, irq: u32) -> String {
    format!("virtio_mmio.device={size:#x}@{base:#x}:{irq}")
}

/// A virtio device behind the MMIO transport.
pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    irq: Box<dyn Interrupt>,
    queues: Vec<Queue>,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    interrupt_status: u32,
    config_generation: u32,
    /// Queues notified since the last `process`.
    pending_notify: u64,
    /// Guest-triggered warnings left before they drop to debug.
    warnings: WarnBudget,
}

impl MmioTransport {
    /// Wraps `device`; its interrupts go to `irq`.
    pub fn new(device: Box<dyn VirtioDevice>, irq: Box<dyn Interrupt>) -> MmioTransport {
        let queues = device.queue_max_sizes().iter().map(|&max| Queue::new(max)).collect();
        MmioTransport {
            device,
            irq,
            queues,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            interrupt_status: 0,
            config_generation: 0,
            pending_notify: 0,
            warnings: WarnBudget::default(),
        }
    }

    /// Features offered to the driver: the device's plus the transport's.
    pub fn offered_features(&self) -> u64 {
        self.device.device_features() | VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC | VIRTIO_F_RING_EVENT_IDX
    }

    /// The device status register (§2.1).
    pub fn status(&self) -> u32 {
        self.status
    }

    /// The wrapped device, e.g. for the machine to query it.
    pub fn device(&self) -> &dyn VirtioDevice {
        self.device.as_ref()
    }

    fn selected_queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    /// Guest read of `data.len()` bytes at `offset` into the device's window.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= reg::CONFIG {
            self.device.read_config(offset - reg::CONFIG, data);
            return;
        }
        // §4.2.2.2: the driver MUST use 32-bit wide, aligned accesses to the
        // registers below the config space.
        if data.len() != 4 || offset % 4 != 0 {
            log::debug!("virtio-mmio: {}-byte read at register {offset:#x} ignored", data.len());
            data.fill(0);
            return;
        }
        let value = match offset {
            reg::MAGIC_VALUE => MAGIC,
            reg::VERSION => VERSION,
            reg::DEVICE_ID => self.device.device_type(),
            reg::VENDOR_ID => VENDOR_ID,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => self.offered_features() as u32,
                1 => (self.offered_features() >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => self.selected_queue().map_or(0, |q| q.max_size as u32),
            reg::QUEUE_READY => self.selected_queue().map_or(0, |q| q.ready as u32),
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            // No shared memory regions: §4.2.2 says a non-existent region
            // reads as length -1.
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH | reg::SHM_BASE_LOW | reg::SHM_BASE_HIGH => u32::MAX,
            reg::CONFIG_GENERATION => self.config_generation,
            _ => {
                log::debug!("virtio-mmio: read of write-only or unknown register {offset:#x}");
                0
            }
        };
        data.copy_from_slice(&value.to_le_bytes());
    }

    /// Guest write of `data` at `offset` into the device's window.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= reg::CONFIG {
            self.device.write_config(offset - reg::CONFIG, data);
            return;
        }
        if data.len() != 4 || offset % 4 != 0 {
            log::debug!("virtio-mmio: {}-byte write at register {offset:#x} ignored", data.len());
            return;
        }
        let value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let features_settable = self.status & (STATUS_FEATURES_OK | STATUS_DRIVER_OK) == 0;
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES if features_settable => match self.driver_features_sel {
                0 => self.driver_features = (self.driver_features & !0xffff_ffff) | value as u64,
                1 => self.driver_features = (self.driver_features & 0xffff_ffff) | (value as u64) << 32,
                _ => {}
            },
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NUM => self.with_idle_queue(|q| q.size = value.min(u16::MAX as u32) as u16),
            reg::QUEUE_READY => {
                if let Some(q) = self.selected_queue() {
                    q.ready = value == 1;
                }
            }
            reg::QUEUE_DESC_LOW => self.with_idle_queue(|q| set_low(&mut q.desc_table, value)),
            reg::QUEUE_DESC_HIGH => self.with_idle_queue(|q| set_high(&mut q.desc_table, value)),
            reg::QUEUE_DRIVER_LOW => self.with_idle_queue(|q| set_low(&mut q.avail_ring, value)),
            reg::QUEUE_DRIVER_HIGH => self.with_idle_queue(|q| set_high(&mut q.avail_ring, value)),
            reg::QUEUE_DEVICE_LOW => self.with_idle_queue(|q| set_low(&mut q.used_ring, value)),
            reg::QUEUE_DEVICE_HIGH => self.with_idle_queue(|q| set_high(&mut q.used_ring, value)),
            reg::QUEUE_NOTIFY => {
                // With VIRTIO_F_NOTIFICATION_DATA (not offered) the upper bits
                // would carry more; the low 16 bits are the queue index.
                let index = value & 0xffff;
                if (index as usize) < self.queues.len() && index < 64 {
                    self.pending_notify |= 1 << index;
                } else {
                    log::debug!("virtio-mmio: notify for non-existent queue {index}");
                }
            }
            reg::INTERRUPT_ACK => {
                self.interrupt_status &= !value;
                if self.interrupt_status == 0 {
                    self.irq.lower();
                }
            }
            reg::STATUS => self.write_status(value),
            reg::SHM_SEL => {}
            _ => log::debug!("virtio-mmio: write {value:#x} to read-only or unknown register {offset:#x}"),
        }
    }

    /// Queue registers may change only while the queue is not ready (§4.2.2.2).
    fn with_idle_queue(&mut self, f: impl FnOnce(&mut Queue)) {
        match self.selected_queue() {
            Some(q) if !q.ready => f(q),
            Some(_) => log::debug!("virtio-mmio: queue register written while the queue is ready"),
            None => {}
        }
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        let newly = value & !self.status;
        if newly & STATUS_FEATURES_OK != 0 {
            // §3.1.1 step 5-6: accept only a subset of what we offered, and
            // only modern drivers (this transport has no legacy interface).
            let unknown = self.driver_features & !self.offered_features();
            if unknown != 0 || self.driver_features & VIRTIO_F_VERSION_1 == 0 {
                log::log!(
                    self.warnings.level(),
                    "virtio-mmio: driver features {:#x} rejected (offered {:#x})",
                    self.driver_features,
                    self.offered_features()
                );
                self.status = value & !STATUS_FEATURES_OK;
                return;
            }
            self.device.ack_features(self.driver_features);
        }
        if newly & STATUS_DRIVER_OK != 0 {
            let event_idx = self.driver_features & VIRTIO_F_RING_EVENT_IDX != 0;
            for q in &mut self.queues {
                q.event_idx = event_idx;
            }
            self.device.activate();
        }
        self.status = value;
    }

    fn reset(&mut self) {
        self.device.reset();
        for q in &mut self.queues {
            q.reset();
        }
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.interrupt_status = 0;
        self.pending_notify = 0;
        self.irq.lower();
    }

    /// Whether a notify is waiting for `process`.
    pub fn has_pending_notify(&self) -> bool {
        self.pending_notify != 0
    }

    /// Does the device's queue work: handles notified queues, lets the
    /// device poll its backend, and raises the interrupt if the driver wants
    /// one. Call after guest writes to this device and periodically.
    pub fn process(&mut self, mem: &mut GuestMemory) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_DEVICE_NEEDS_RESET != 0 {
            self.pending_notify = 0;
            return;
        }
        let notified = std::mem::take(&mut self.pending_notify);
        let mut queues = Queues::new(&mut self.queues, mem);
        let mut result = Ok(());
        for index in 0..64usize {
            if notified & (1 << index) != 0 {
                result = self.device.notify(index, &mut queues);
                if result.is_err() {
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.device.poll(&mut queues);
        }
        let used = queues.used_mask();
        if queues.config_changed() {
            self.config_changed();
        }
        if let Err(e) = result {
            // §2.1.2: the device signals a broken driver contract with
            // DEVICE_NEEDS_RESET and a configuration change interrupt.
            log::log!(self.warnings.level(), "virtio-mmio device {}: {e}; needs reset", self.device.device_type());
            self.status |= STATUS_DEVICE_NEEDS_RESET;
            self.signal(INT_CONFIG_CHANGE);
        }
        let mut wants_interrupt = false;
        for (index, q) in self.queues.iter_mut().enumerate() {
            if used & (1 << index) != 0 && q.needs_interrupt(mem) {
                wants_interrupt = true;
            }
        }
        if wants_interrupt {
            self.signal(INT_USED_BUFFER);
        }
    }

    /// The device changed its configuration space (§4.2.2, ConfigGeneration).
    pub fn config_changed(&mut self) {
        self.config_generation = self.config_generation.wrapping_add(1);
        self.signal(INT_CONFIG_CHANGE);
    }

    fn signal(&mut self, cause: u32) {
        self.interrupt_status |= cause;
        self.irq.raise();
    }
}

fn set_low(field: &mut u64, value: u32) {
    *field = (*field & !0xffff_ffff) | value as u64;
}

fn set_high(field: &mut u64, value: u32) {
    *field = (*field & 0xffff_ffff) | (value as u64) << 32;
}

#[cfg(test)]
#[path = "mmio_tests.rs"]
mod tests;
