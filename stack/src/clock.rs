//! The worker's clocks: `performance.now()` for the network's timers
//! (monotonic), `Date.now()` for certificate validity (wall time).

use js_sys::{Function, Reflect};
use netvm_net::clock::Clock;
use smoltcp::time::Instant;
use wasm_bindgen::{JsCast, JsValue};

/// Milliseconds since the worker started, from `performance.now()`
/// (falls back to `Date.now()` where a global has no `performance`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PerformanceClock;

impl Clock for PerformanceClock {
    fn now(&self) -> Instant {
        Instant::from_micros((performance_now() * 1000.0) as i64)
    }
}

fn performance_now() -> f64 {
    let global = js_sys::global();
    let now = Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .filter(|p| p.is_object())
        .and_then(|p| {
            let f: Function = Reflect::get(&p, &JsValue::from_str("now")).ok()?.dyn_into().ok()?;
            f.call0(&p).ok()?.as_f64()
        });
    now.unwrap_or_else(js_sys::Date::now)
}

/// Seconds since the Unix epoch, for the CA's validity period.
pub fn unix_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}
