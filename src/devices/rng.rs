//! virtio-rng, the entropy device (virtio 1.2 §5.4), on an [`EntropySource`].

use crate::backends::entropy::EntropySource;
use crate::devices::virtio::queue::QueueError;
use crate::devices::virtio::{Queues, VirtioDevice, DEVICE_ID_ENTROPY};

const QUEUE_SIZE: u16 = 64;
/// Bytes produced per request at most; the Linux driver asks for 64 at a
/// time (SMP_CACHE_BYTES), the cap keeps a hostile 4 GB buffer cheap.
const MAX_REQUEST: u64 = 64 * 1024;

pub struct Rng {
    source: Box<dyn EntropySource>,
    warnings: crate::devices::WarnBudget,
}

impl Rng {
    pub fn new(source: Box<dyn EntropySource>) -> Rng {
        Rng { source, warnings: Default::default() }
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        DEVICE_ID_ENTROPY
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }
    fn device_features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        // §5.4.4: no configuration space.
        data.fill(0);
    }
    fn reset(&mut self) {}

    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError> {
        while let Some(chain) = queues.pop(index)? {
            // §5.4.6: the device fills device-writable buffers with random bytes.
            let mut budget = MAX_REQUEST;
            let mut written = 0u32;
            for b in &chain.writable {
                let n = (b.len as u64).min(budget);
                if n == 0 {
                    break;
                }
                let Ok(dst) = queues.mem().slice_mut(b.addr, n) else { break };
                if let Err(e) = self.source.fill(dst) {
                    log::log!(self.warnings.level(), "virtio-rng: entropy source failed: {e}");
                    break;
                }
                written += n as u32;
                budget -= n;
            }
            queues.add_used(index, chain.head, written)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::entropy::OsEntropy;
    use crate::devices::virtio::guest_driver::{self, DriverBuf};
    use crate::devices::virtio::mmio::MmioTransport;
    use crate::devices::SharedIrq;
    use crate::memory::GuestMemory;

    #[test]
    fn fills_buffers_and_interrupts() {
        let mut mem = GuestMemory::new(1 << 20);
        let irq = SharedIrq::new();
        let mut t = MmioTransport::new(Box::new(Rng::new(Box::new(OsEntropy))), Box::new(irq.clone()));
        let (mut qs, free) = guest_driver::init_device(&mut t, 0, &[16], 0x1000).unwrap();
        let q = &mut qs[0];
        let head = q.add_chain(&mut mem, &[DriverBuf { addr: free, len: 64, write: true }]);
        guest_driver::notify(&mut t, &mut mem, 0);
        assert_eq!(q.pop_used(&mem), Some((head as u32, 64)));
        assert!(irq.is_asserted());
        assert_ne!(mem.slice(free, 64).unwrap(), &[0u8; 64][..]);
        assert_eq!(guest_driver::ack_interrupt(&mut t), 1);
        assert!(!irq.is_asserted());
        // A readable-only chain gets nothing written, and is still returned.
        let head = q.add_chain(&mut mem, &[DriverBuf { addr: free, len: 64, write: false }]);
        guest_driver::notify(&mut t, &mut mem, 0);
        assert_eq!(q.pop_used(&mem), Some((head as u32, 0)));
    }
}
