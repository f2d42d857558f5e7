//! Transparent mode's name pool: the DNS server answers every name with an
//! address of its own from a private range and remembers which name it gave
//! each address, so a TCP connection to that address can be served by the
//! proxy with the name the guest meant (browser mode has no raw sockets,
//! only Fetch, which takes names, not addresses).
//!
//! The range is 198.18.0.0/15's first /16 (RFC 2544 §C.2.2, reserved for
//! benchmarking and never routed on the internet), the range "fake IP" DNS
//! schemes use for the same purpose, so it cannot shadow a real destination.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// First address of the pool (198.18.0.0/16).
pub const POOL_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// Prefix length of the pool range.
pub const POOL_PREFIX: u8 = 16;
/// Names remembered at once; beyond that the least recently assigned name's
/// address is reused, so a guest looking up endless names cannot grow memory.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Longest DNS name (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;

/// Names ↔ pool addresses. Offsets start at 1 so that 198.18.0.0 (the
/// network address) is never handed out.
#[derive(Debug)]
pub struct NamePool {
    by_name: HashMap<String, u32>,
    /// `names[i]` is the name of offset `i + 1`.
    names: Vec<String>,
    /// The slot the next new name takes once the pool is full.
    next_reuse: usize,
    capacity: usize,
}

impl Default for NamePool {
    fn default() -> Self {
        NamePool::new(DEFAULT_CAPACITY)
    }
}

impl NamePool {
    /// A pool of `capacity` addresses (at most the /16 less its network and
    /// broadcast addresses).
    pub fn new(capacity: usize) -> NamePool {
        let capacity = capacity.clamp(1, (1 << (32 - POOL_PREFIX)) - 2);
        NamePool { by_name: HashMap::new(), names: Vec::new(), next_reuse: 0, capacity }
    }

    /// Whether `ip` lies in the pool's range (assigned or not).
    pub fn contains(ip: Ipv4Addr) -> bool {
        u32::from(ip) >> (32 - POOL_PREFIX) == u32::from(POOL_BASE) >> (32 - POOL_PREFIX)
    }

    /// The address for `name` (lower-case, no trailing dot), assigning one if
    /// it has none. `None` for names no DNS message could carry.
    pub fn assign(&mut self, name: &str) -> Option<Ipv4Addr> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return None;
        }
        if let Some(&offset) = self.by_name.get(name) {
            return Some(address(offset));
        }
        let slot = if self.names.len() < self.capacity {
            self.names.push(name.to_string());
            self.names.len() - 1
        } else {
            let slot = self.next_reuse;
            self.next_reuse = (slot + 1) % self.capacity;
            let old = std::mem::replace(&mut self.names[slot], name.to_string());
            log::debug!("name pool full: {old} gives its address to {name}");
            self.by_name.remove(&old);
            slot
        };
        let offset = slot as u32 + 1;
        self.by_name.insert(name.to_string(), offset);
        Some(address(offset))
    }

    /// The name last given `ip`, if any.
    pub fn name_of(&self, ip: Ipv4Addr) -> Option<&str> {
        if !Self::contains(ip) {
            return None;
        }
        let offset = u32::from(ip) - u32::from(POOL_BASE);
        let slot = (offset as usize).checked_sub(1)?;
        self.names.get(slot).map(String::as_str)
    }
}

fn address(offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(POOL_BASE) + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_address_and_map_back() {
        let mut p = NamePool::default();
        let a = p.assign("example.com").unwrap();
        let b = p.assign("other.test").unwrap();
        assert_eq!(a, Ipv4Addr::new(198, 18, 0, 1));
        assert_ne!(a, b);
        assert_eq!(p.assign("example.com"), Some(a));
        assert_eq!(p.name_of(a), Some("example.com"));
        assert_eq!(p.name_of(b), Some("other.test"));
        assert_eq!(p.name_of(Ipv4Addr::new(198, 18, 0, 0)), None);
        assert_eq!(p.name_of(Ipv4Addr::new(198, 18, 9, 9)), None);
        assert_eq!(p.name_of(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert!(NamePool::contains(Ipv4Addr::new(198, 18, 255, 255)));
        assert!(!NamePool::contains(Ipv4Addr::new(198, 19, 0, 1)));
        assert_eq!(p.assign(""), None);
        assert_eq!(p.assign(&"a".repeat(300)), None);
    }

    #[test]
    fn a_full_pool_reuses_the_oldest_address() {
        let mut p = NamePool::new(2);
        let a = p.assign("a.test").unwrap();
        let _b = p.assign("b.test").unwrap();
        let c = p.assign("c.test").unwrap();
        assert_eq!(c, a, "c takes a's slot");
        assert_eq!(p.name_of(a), Some("c.test"));
        assert_ne!(p.assign("a.test"), Some(a), "a gets a fresh (reused) slot");
    }
}
