//! `log` records to the worker's console (DevTools, or the test's page
//! console), so the stack's debug output is visible where it runs.

use log::{Level, LevelFilter, Log, Metadata, Record};
use wasm_bindgen::JsValue;

struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = JsValue::from_str(&format!(
            "netvm-stack {} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
        match record.level() {
            Level::Error => web_console::error(&line),
            Level::Warn => web_console::warn(&line),
            _ => web_console::log(&line),
        }
    }

    fn flush(&self) {}
}

mod web_console {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console)]
        pub fn log(s: &JsValue);
        #[wasm_bindgen(js_namespace = console)]
        pub fn warn(s: &JsValue);
        #[wasm_bindgen(js_namespace = console)]
        pub fn error(s: &JsValue);
    }
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the console logger (once per worker) at `level`: "error",
/// "warn", "info", "debug", "trace" or "off"; anything else means "warn".
pub fn init(level: &str) {
    let filter = level.parse::<LevelFilter>().unwrap_or(LevelFilter::Warn);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
}
