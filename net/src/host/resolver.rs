//! The host's resolver (`getaddrinfo`, so /etc/hosts and nsswitch apply),
//! run on short-lived threads because it blocks; completion wakes the event
//! loop through a mio [`Waker`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dns_lookup::{AddrInfoHints, LookupErrorKind};
use mio::Waker;

use crate::upstream::{LookupError, PendingLookup, ReadyLookup};

/// Resolver threads alive at once across all VMs; more lookups fail at once
/// (SERVFAIL) instead of piling up threads.
const MAX_THREADS: usize = 64;

type Slot = Arc<Mutex<Option<Result<Vec<IpAddr>, LookupError>>>>;

#[derive(Clone)]
pub struct HostResolver {
    waker: Arc<Waker>,
    running: Arc<AtomicUsize>,
}

struct ThreadLookup(Slot);

impl PendingLookup for ThreadLookup {
    fn poll(&mut self) -> Option<Result<Vec<IpAddr>, LookupError>> {
        self.0.lock().map(|mut s| s.take()).unwrap_or(Some(Err(LookupError::Failed)))
    }
}

impl HostResolver {
    pub fn new(waker: Arc<Waker>) -> HostResolver {
        HostResolver { waker, running: Arc::new(AtomicUsize::new(0)) }
    }

    pub fn lookup(&self, name: &str) -> Box<dyn PendingLookup> {
        if name.is_empty() || name.len() > 253 || name.contains('\0') {
            return Box::new(ReadyLookup(Some(Err(LookupError::NoSuchName))));
        }
        if self.running.fetch_add(1, Ordering::SeqCst) >= MAX_THREADS {
            self.running.fetch_sub(1, Ordering::SeqCst);
            log::warn!("resolver: {MAX_THREADS} lookups running; failing {name}");
            return Box::new(ReadyLookup(Some(Err(LookupError::Failed))));
        }
        let slot: Slot = Arc::new(Mutex::new(None));
        let (out, name, waker, running) = (slot.clone(), name.to_string(), self.waker.clone(), self.running.clone());
        let spawned = std::thread::Builder::new().name("netvm-resolve".into()).spawn(move || {
            let result = resolve(&name);
            log::debug!("resolver: {name} -> {result:?}");
            if let Ok(mut s) = out.lock() {
                *s = Some(result);
            }
            running.fetch_sub(1, Ordering::SeqCst);
            let _ = waker.wake();
        });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            log::warn!("resolver: cannot start a thread: {e}");
            return Box::new(ReadyLookup(Some(Err(LookupError::Failed))));
        }
        Box::new(ThreadLookup(slot))
    }
}

/// Both families, one answer per address.
pub fn resolve(name: &str) -> Result<Vec<IpAddr>, LookupError> {
    let hints = AddrInfoHints { socktype: libc::SOCK_STREAM, ..AddrInfoHints::default() };
    match dns_lookup::getaddrinfo(Some(name), None, Some(hints)) {
        Ok(iter) => {
            let mut addrs: Vec<IpAddr> = Vec::new();
            for a in iter.flatten() {
                if !addrs.contains(&a.sockaddr.ip()) {
                    addrs.push(a.sockaddr.ip());
                }
            }
            Ok(addrs)
        }
        Err(e) => match e.kind() {
            LookupErrorKind::NoName => Err(LookupError::NoSuchName),
            LookupErrorKind::NoData => Ok(Vec::new()),
            _ => Err(LookupError::Failed),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_from_the_hosts_file() {
        // Only names the host answers locally: tests send no DNS traffic.
        let addrs = resolve("localhost").unwrap();
        assert!(addrs.iter().any(|a| a.is_loopback()), "{addrs:?}");
    }
}
