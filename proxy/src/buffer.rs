//! A bounded FIFO of bytes: the proxy's input and output queues.
//!
//! Every queue has a capacity; writers ask how much room is left and the
//! connection stops pulling from its source when a queue is full. That is
//! how backpressure travels from a slow guest to the upstream and back.

/// Bytes waiting to be consumed, stored contiguously so parsers can look at
/// the whole unread part at once.
#[derive(Debug)]
pub struct ByteQueue {
    data: Vec<u8>,
    /// Index of the first unread byte in `data`.
    start: usize,
    capacity: usize,
}

impl ByteQueue {
    pub fn new(capacity: usize) -> ByteQueue {
        ByteQueue {
            data: Vec::new(),
            start: 0,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many more bytes `push` accepts.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// The unread bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.room());
        self.compact_for(n);
        self.data.extend_from_slice(&bytes[..n]);
        n
    }

    /// Appends all of `bytes` even past the capacity. For small protocol
    /// framing (status lines, chunk headers) whose producer already checked
    /// `room()` for the payload it frames.
    pub fn push_all(&mut self, bytes: &[u8]) {
        self.compact_for(bytes.len());
        self.data.extend_from_slice(bytes);
    }

    /// Drops the first `n` unread bytes (all of them if fewer are queued).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Copies unread bytes into `out` and consumes them; returns the count.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len());
        out[..n].copy_from_slice(&self.as_slice()[..n]);
        self.consume(n);
        n
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.start = 0;
    }

    /// Moves unread bytes to the front when the consumed prefix is large,
    /// so the vector does not grow without bound in a long stream.
    fn compact_for(&mut self, incoming: usize) {
        if self.start > 0
            && (self.start >= self.data.len() / 2
                || self.data.len() + incoming > self.data.capacity())
        {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }
}

impl std::io::Write for ByteQueue {
    /// Writes what fits; `Ok(0)` tells a writer like rustls that the queue is full.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.push(buf);
        if n == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_respects_capacity_and_consume_frees_room() {
        let mut q = ByteQueue::new(8);
        assert_eq!(q.push(b"hello world"), 8);
        assert_eq!(q.as_slice(), b"hello wo");
        assert_eq!(q.room(), 0);
        q.consume(6);
        assert_eq!(q.as_slice(), b"wo");
        assert_eq!(q.push(b"rld!!!!!"), 6);
        assert_eq!(q.as_slice(), b"world!!!");
        let mut out = [0u8; 5];
        assert_eq!(q.pop_into(&mut out), 5);
        assert_eq!(&out, b"world");
        q.consume(100);
        assert!(q.is_empty());
    }

    #[test]
    fn long_stream_stays_compact() {
        let mut q = ByteQueue::new(16);
        for i in 0..10_000u32 {
            q.push(&i.to_le_bytes());
            q.consume(4);
        }
        assert!(q.data.capacity() < 64);
    }
}
