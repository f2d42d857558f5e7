//! The JS-facing objects and the loop that drives a link's network.
//!
//! A link's network must be polled after guest frames arrive, when one of
//! its timers is due (`VirtualNetwork::poll_delay`, which covers the
//! proxy's own timeouts) and whenever a fetch made progress (the proxy's
//! waker). The first two happen in [`Link::push`] and a `setTimeout`; the
//! waker queues a poll as a microtask (`spawn_local`), at most one at a
//! time, so a burst of settled promises costs one pass.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use js_sys::{Function, Reflect, Uint8Array};
use netvm_net::clock::Clock;
use netvm_net::framing::{encode_frame, FrameDecoder};
use netvm_net::upstream::Isolated;
use netvm_net::{NetworkConfig, VirtualNetwork};
use netvm_proxy::fetch::{FetchOptions, FetchUpstream};
use netvm_proxy::{CertificateAuthority, Proxy, ProxyConfig};
use smoltcp::time::Duration;
use smoltcp::wire::EthernetAddress;
use wasm_bindgen::prelude::*;

use crate::clock::{unix_seconds, PerformanceClock};
use crate::logger;

/// The worker's proxy: its CA and its fetch() upstream, shared by all links.
#[wasm_bindgen]
pub struct Service {
    proxy: Rc<Proxy>,
    transparent: bool,
    guest_mac: EthernetAddress,
}

#[wasm_bindgen]
impl Service {
    /// `options`: `{ transparent?: bool, logLevel?: string, guestMac?: "02:00:00:00:00:01" }`.
    /// Makes the CA (its key stays in this object).
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Result<Service, JsError> {
        let field = |name: &str| {
            Reflect::get(options, &JsValue::from_str(name))
                .ok()
                .filter(|v| !v.is_undefined())
        };
        logger::init(
            &field("logLevel")
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| "warn".into()),
        );
        let transparent = field("transparent").map(|v| v.is_truthy()).unwrap_or(false);
        let guest_mac = match field("guestMac").and_then(|v| v.as_string()) {
            Some(text) => {
                parse_mac(&text).ok_or_else(|| JsError::new(&format!("guestMac {text:?} is not a MAC address")))?
            }
            None => NetworkConfig::default().guest_mac,
        };
        let ca = CertificateAuthority::generate(unix_seconds())
            .map_err(|e| JsError::new(&format!("cannot make the proxy CA: {e}")))?;
        let upstream = FetchUpstream::new(FetchOptions::default());
        let proxy = Rc::new(Proxy::new(Arc::new(ca), Box::new(upstream), ProxyConfig::default()));
        log::info!(
            "proxy CA ready; transparent mode {}",
            if transparent { "on" } else { "off" }
        );
        Ok(Service {
            proxy,
            transparent,
            guest_mac,
        })
    }

    /// The CA certificate (PEM) the guest must trust (`proxy.crt`).
    #[wasm_bindgen(getter = caPem)]
    pub fn ca_pem(&self) -> String {
        self.proxy.ca().ca_cert_pem().to_string()
    }

    /// A new virtual network for one guest link. `output` is called with
    /// a `Uint8Array` of framed bytes (QEMU stream framing) for the guest.
    #[wasm_bindgen(js_name = openLink)]
    pub fn open_link(&self, output: Function) -> Link {
        let clock = PerformanceClock;
        let config = NetworkConfig {
            guest_mac: self.guest_mac,
            random_seed: random_u64(),
            ..NetworkConfig::default()
        };
        // No sockets in a browser: besides the virtual services, TCP is
        // refused (RST) and names resolve only in transparent mode.
        let mut net = VirtualNetwork::new(config, Box::new(Isolated), clock.now());
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(PollWaker {
            id,
            scheduled: AtomicBool::new(false),
        });
        netvm_net::proxy::serve(
            &mut net,
            self.proxy.clone(),
            Waker::from(waker.clone()),
            clock,
            self.transparent,
        );
        let driver = Rc::new(Driver {
            state: RefCell::new(LinkState {
                net,
                decoder: FrameDecoder::default(),
                clock,
                broken: false,
            }),
            output,
            waker,
            timer: RefCell::new(None),
            tick: RefCell::new(None),
        });
        let weak = Rc::downgrade(&driver);
        *driver.tick.borrow_mut() = Some(Closure::new(move || {
            if let Some(d) = weak.upgrade() {
                d.timer.borrow_mut().take();
                d.run();
            }
        }));
        LINKS.with(|links| links.borrow_mut().insert(id, Rc::downgrade(&driver)));
        log::debug!("link {id} opened");
        Link { driver }
    }
}

/// One guest's byte stream and its network. Free it (`free()`) when the
/// stream ends: its connections and their fetches are cancelled.
#[wasm_bindgen]
pub struct Link {
    driver: Rc<Driver>,
}

#[wasm_bindgen]
impl Link {
    /// Stream bytes from the guest (any cut: half frames are kept). Throws
    /// once the stream announced an impossible frame length: a length
    /// prefixed stream cannot resync, so the caller closes the link.
    pub fn push(&self, bytes: &[u8]) -> Result<(), JsError> {
        self.driver.push(bytes)?;
        self.driver.run();
        Ok(())
    }

    /// `{ framesIn, framesDropped, tcpFlows }`, for tests and diagnostics.
    pub fn stats(&self) -> JsValue {
        let st = self.driver.state.borrow();
        let stats = st.net.stats();
        let out = js_sys::Object::new();
        let set = |k: &str, v: f64| {
            let _ = Reflect::set(&out, &JsValue::from_str(k), &JsValue::from_f64(v));
        };
        set("framesIn", stats.frames_in as f64);
        set("framesDropped", stats.frames_dropped as f64);
        set("tcpFlows", st.net.flow_counts().0 as f64);
        out.into()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let id = self.driver.waker.id;
        LINKS.with(|links| links.borrow_mut().remove(&id));
        self.driver.cancel_timer();
        log::debug!("link {id} closed");
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// Links by id, for wake-ups (a `Waker` must be `Send`, so it carries
    /// the id, not the link).
    static LINKS: RefCell<HashMap<u32, Weak<Driver>>> = RefCell::new(HashMap::new());
}

struct LinkState {
    net: VirtualNetwork,
    decoder: FrameDecoder,
    clock: PerformanceClock,
    broken: bool,
}

struct Driver {
    state: RefCell<LinkState>,
    output: Function,
    waker: Arc<PollWaker>,
    /// The pending `setTimeout` handle, if any.
    timer: RefCell<Option<JsValue>>,
    tick: RefCell<Option<Closure<dyn FnMut()>>>,
}

impl Driver {
    fn push(&self, bytes: &[u8]) -> Result<(), JsError> {
        let mut st = self.state.borrow_mut();
        if st.broken {
            return Err(JsError::new("link closed after a bad frame length"));
        }
        st.decoder.push(bytes);
        loop {
            match st.decoder.next_frame() {
                Ok(Some(frame)) => {
                    let now = st.clock.now();
                    st.net.receive_frame(&frame, now);
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    st.broken = true;
                    log::warn!("guest link: {e}");
                    return Err(JsError::new(&format!("guest link: {e}")));
                }
            }
        }
    }

    /// Polls the network, hands its frames to `output`, and sets the timer
    /// for its next deadline.
    fn run(&self) {
        self.waker.scheduled.store(false, Ordering::Relaxed);
        let Ok(mut st) = self.state.try_borrow_mut() else {
            // Called back from inside a pass (output → push): that pass
            // polls again on its way out.
            self.waker.wake_by_ref();
            return;
        };
        let now = st.clock.now();
        st.net.poll(now);
        let mut out = Vec::new();
        while let Some(frame) = st.net.pop_frame() {
            encode_frame(&frame, &mut out);
        }
        let delay = st.net.poll_delay(now);
        drop(st);
        if !out.is_empty() {
            if let Err(e) = self
                .output
                .call1(&JsValue::UNDEFINED, &Uint8Array::from(out.as_slice()))
            {
                log::warn!("link output callback threw: {e:?}");
            }
        }
        self.arm_timer(delay);
    }

    fn arm_timer(&self, delay: Option<Duration>) {
        self.cancel_timer();
        let Some(delay) = delay else { return };
        let tick = self.tick.borrow();
        let Some(tick) = tick.as_ref() else { return };
        // Round up: a timer that fires early finds nothing due and re-arms.
        let ms = (delay.total_micros() + 999) / 1000;
        let handle = global_fn("setTimeout").and_then(|f| {
            f.call2(&JsValue::UNDEFINED, tick.as_ref(), &JsValue::from_f64(ms as f64))
                .ok()
        });
        if handle.is_none() {
            log::error!("no setTimeout in this JS context: timers of the network will not run");
        }
        *self.timer.borrow_mut() = handle;
    }

    fn cancel_timer(&self) {
        if let Some(handle) = self.timer.borrow_mut().take() {
            if let Some(clear) = global_fn("clearTimeout") {
                let _ = clear.call1(&JsValue::UNDEFINED, &handle);
            }
        }
    }
}

/// Wakes a link from fetch promise callbacks: queues one poll.
struct PollWaker {
    id: u32,
    scheduled: AtomicBool,
}

impl Wake for PollWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::Relaxed) {
            return;
        }
        let id = self.id;
        wasm_bindgen_futures::spawn_local(async move {
            let driver = LINKS.with(|links| links.borrow().get(&id).and_then(Weak::upgrade));
            if let Some(driver) = driver {
                driver.run();
            }
        });
    }
}

fn global_fn(name: &str) -> Option<Function> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()?
        .dyn_into()
        .ok()
}

/// Seeds smoltcp's sequence numbers and ports; differs per link.
fn random_u64() -> u64 {
    let half = || (js_sys::Math::random() * 4294967296.0) as u64;
    (half() << 32) | half()
}

fn parse_mac(text: &str) -> Option<EthernetAddress> {
    let mut bytes = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut bytes {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(EthernetAddress(bytes))
}
