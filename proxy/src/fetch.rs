//! The browser upstream: each exchange is one `fetch()` call, made from
//! whatever global the stack runs in (a Web Worker, a page, or Node).
//!
//! Fetch is promise-based, so each exchange runs as a future on the JS
//! event loop (`wasm_bindgen_futures::spawn_local`) and hands its events
//! to the proxy through a shared queue. The proxy polls that queue; the
//! future only reads the next body chunk while the queue is short, so a
//! slow guest stops the download instead of filling memory.
//!
//! Request bodies are collected (up to `FetchOptions::max_request_body`)
//! and sent whole: Chromium streams request bodies only over HTTP/2+
//! (`duplex: 'half'`), which a local or HTTP/1.1 origin does not offer.

use crate::http::Header;
use crate::upstream::{
    ErrorKind, Exchange, RequestBody, ResponseBody, ResponseHead, Upstream, UpstreamError,
    UpstreamEvent, UpstreamRequest, MAX_BODY_CHUNK,
};
use js_sys::{Function, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, RequestCredentials, RequestInit,
    RequestRedirect, Response, ResponseType,
};

/// Response bytes queued for the proxy before the reader pauses.
const MAX_QUEUED: usize = 4 * MAX_BODY_CHUNK;

#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Largest request body sent (collected whole, see the module docs).
    pub max_request_body: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_request_body: 32 << 20,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct FetchUpstream {
    options: FetchOptions,
}

impl FetchUpstream {
    pub fn new(options: FetchOptions) -> FetchUpstream {
        FetchUpstream { options }
    }
}

/// What the fetch future and the proxy share.
struct Shared {
    events: VecDeque<UpstreamEvent>,
    queued: usize,
    /// The fetch future waiting for queue room.
    reader: Option<Waker>,
    /// The proxy connection's waker.
    proxy: Waker,
    cancelled: bool,
}

impl Shared {
    fn push(&mut self, ev: UpstreamEvent) {
        if let UpstreamEvent::Body(b) = &ev {
            self.queued += b.len();
        }
        self.events.push_back(ev);
        self.proxy.wake_by_ref();
    }
}

impl Upstream for FetchUpstream {
    fn start(&self, request: UpstreamRequest, waker: Waker) -> Box<dyn Exchange> {
        let shared = Rc::new(RefCell::new(Shared {
            events: VecDeque::new(),
            queued: 0,
            reader: None,
            proxy: waker,
            cancelled: false,
        }));
        let mut exchange = FetchExchange {
            shared,
            controller: AbortController::new().ok(),
            pending: Some(request),
            body: Vec::new(),
            max_body: self.options.max_request_body,
        };
        if exchange
            .pending
            .as_ref()
            .is_some_and(|r| r.body == RequestBody::None)
        {
            exchange.launch();
        }
        Box::new(exchange)
    }
}

struct FetchExchange {
    shared: Rc<RefCell<Shared>>,
    controller: Option<AbortController>,
    /// The request, until its body is complete and fetch() is called.
    pending: Option<UpstreamRequest>,
    body: Vec<u8>,
    max_body: usize,
}

impl FetchExchange {
    fn launch(&mut self) {
        let Some(request) = self.pending.take() else {
            return;
        };
        let body = std::mem::take(&mut self.body);
        let shared = self.shared.clone();
        let signal = self.controller.as_ref().map(|c| c.signal());
        wasm_bindgen_futures::spawn_local(async move {
            let url = request.url.to_string();
            if let Err(e) = run(&shared, request, body, signal).await {
                log::debug!("fetch {url}: {e}");
                shared.borrow_mut().push(UpstreamEvent::Error(e));
            }
        });
    }
}

impl Exchange for FetchExchange {
    fn write_body(&mut self, data: &[u8]) -> usize {
        if self.pending.is_none() {
            return data.len();
        }
        if self.body.len() + data.len() > self.max_body {
            self.pending = None;
            self.body = Vec::new();
            let msg = format!(
                "request body over {} bytes cannot be sent through fetch()",
                self.max_body
            );
            self.shared
                .borrow_mut()
                .push(UpstreamEvent::Error(UpstreamError::new(
                    ErrorKind::Unsupported,
                    msg,
                )));
            return data.len();
        }
        self.body.extend_from_slice(data);
        data.len()
    }

    fn finish_body(&mut self) {
        self.launch();
    }

    fn poll_event(&mut self) -> Option<UpstreamEvent> {
        let mut s = self.shared.borrow_mut();
        let ev = s.events.pop_front()?;
        if let UpstreamEvent::Body(b) = &ev {
            s.queued -= b.len();
        }
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        Some(ev)
    }
}

impl Drop for FetchExchange {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        s.cancelled = true;
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        drop(s);
        if let Some(c) = &self.controller {
            c.abort();
        }
    }
}

/// Resolves when the proxy has room for more body (or the exchange was dropped).
struct Room(Rc<RefCell<Shared>>);

impl Future for Room {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.borrow_mut();
        if s.cancelled || s.queued < MAX_QUEUED {
            Poll::Ready(())
        } else {
            s.reader = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

async fn run(
    shared: &Rc<RefCell<Shared>>,
    request: UpstreamRequest,
    body: Vec<u8>,
    signal: Option<web_sys::AbortSignal>,
) -> Result<(), UpstreamError> {
    let js = |what: &str, e: JsValue| {
        UpstreamError::new(ErrorKind::Io, format!("{what}: {}", describe(&e)))
    };
    let init = RequestInit::new();
    init.set_method(&request.method);
    // The guest's requests carry no browser cookies or credentials.
    init.set_credentials(RequestCredentials::Omit);
    // Redirects go back to the guest, whose client follows them itself.
    init.set_redirect(RequestRedirect::Manual);
    if let Some(signal) = &signal {
        init.set_signal(Some(signal));
    }
    let headers = Headers::new().map_err(|e| js("Headers", e))?;
    for Header { name, value } in &request.headers {
        // Forbidden names (RFC-illegal values too) are refused by the
        // browser; the request goes out without them.
        if let Ok(v) = std::str::from_utf8(value) {
            let _ = headers.append(name, v);
        }
    }
    init.set_headers(&headers);
    if request.body != RequestBody::None {
        init.set_body(&Uint8Array::from(body.as_slice()));
    }
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &JsValue::from_str("fetch"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| {
            UpstreamError::new(ErrorKind::Unsupported, "no fetch() in this JS context")
        })?;
    let url = request.url.to_string();
    let promise: Promise = fetch
        .call2(&global, &JsValue::from_str(&url), &init)
        .map_err(refused)?
        .dyn_into()
        .map_err(|e| js("fetch() result", e))?;
    let response: Response = JsFuture::from(promise)
        .await
        .map_err(refused)?
        .dyn_into()
        .map_err(|e| js("Response", e))?;
    if response.type_() == ResponseType::Opaqueredirect || response.status() == 0 {
        return Err(UpstreamError::new(
            ErrorKind::Cors,
            "the server redirected and the browser hides the redirect target from the page",
        ));
    }
    let status = response.status();
    let no_body = request.method == "HEAD" || status == 204 || status == 304;
    let mut head_fields = Vec::new();
    if let Ok(Some(iter)) = js_sys::try_iter(&response.headers()) {
        for entry in iter.flatten() {
            let name = Reflect::get(&entry, &JsValue::from(0))
                .ok()
                .and_then(|v| v.as_string());
            let value = Reflect::get(&entry, &JsValue::from(1))
                .ok()
                .and_then(|v| v.as_string());
            let (Some(name), Some(value)) = (name, value) else {
                continue;
            };
            // fetch() hands out decoded bodies of unannounced length.
            let framing = name.eq_ignore_ascii_case("content-encoding")
                || name.eq_ignore_ascii_case("content-length");
            if framing && !no_body {
                continue;
            }
            head_fields.push(Header::new(&name, value));
        }
    }
    let head = ResponseHead {
        status,
        reason: response.status_text(),
        headers: head_fields,
        body: if no_body {
            ResponseBody::None
        } else {
            ResponseBody::Unknown
        },
    };
    shared.borrow_mut().push(UpstreamEvent::Head(head));
    let stream = match response.body() {
        Some(s) if !no_body => s,
        _ => {
            shared.borrow_mut().push(UpstreamEvent::End);
            return Ok(());
        }
    };
    let reader: ReadableStreamDefaultReader = stream
        .get_reader()
        .dyn_into()
        .map_err(|e| js("body reader", e.into()))?;
    loop {
        Room(shared.clone()).await;
        if shared.borrow().cancelled {
            let _ = reader.cancel();
            return Ok(());
        }
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| js("reading the response body", e))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            shared.borrow_mut().push(UpstreamEvent::End);
            return Ok(());
        }
        let value: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(|e| js("body chunk", e))?
            .dyn_into()
            .map_err(|e| js("body chunk", e))?;
        let bytes = value.to_vec();
        let mut s = shared.borrow_mut();
        for piece in bytes.chunks(MAX_BODY_CHUNK) {
            s.push(UpstreamEvent::Body(piece.to_vec()));
        }
    }
}

/// fetch() rejects with a TypeError for DNS, connection, TLS and CORS
/// failures alike; the page is not told which, so the 502 says so.
fn refused(e: JsValue) -> UpstreamError {
    UpstreamError::new(
        ErrorKind::Cors,
        format!(
            "{} (the browser refused or could not make the request: CORS, DNS, connection or TLS failure)",
            describe(&e)
        ),
    )
}

/// An exception's message, with its `cause` when there is one (Node puts
/// the system error there).
fn describe(e: &JsValue) -> String {
    let text = |v: &JsValue| -> Option<String> {
        if let Some(s) = v.as_string() {
            return Some(s);
        }
        let message = Reflect::get(v, &JsValue::from_str("message"))
            .ok()?
            .as_string()?;
        let code = Reflect::get(v, &JsValue::from_str("code"))
            .ok()
            .and_then(|c| c.as_string());
        Some(match code {
            Some(c) => format!("{message} ({c})"),
            None => message,
        })
    };
    let mut out = text(e).unwrap_or_else(|| format!("{e:?}"));
    if let Some(cause) = Reflect::get(e, &JsValue::from_str("cause"))
        .ok()
        .filter(|c| !c.is_undefined() && !c.is_null())
    {
        if let Some(c) = text(&cause) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
