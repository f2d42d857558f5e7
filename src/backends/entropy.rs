//! Random bytes for virtio-rng.

use std::io;

/// A source of random bytes.
pub trait EntropySource {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// The host's cryptographic random generator (getrandom(2) natively,
/// `crypto.getRandomValues` under emscripten).
#[derive(Debug, Default)]
pub struct OsEntropy;

impl EntropySource for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        getrandom::getrandom(buf).map_err(|e| io::Error::new(io::ErrorKind::Other, format!("getrandom: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_fills() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        OsEntropy.fill(&mut a).unwrap();
        OsEntropy.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 64]);
    }
}
