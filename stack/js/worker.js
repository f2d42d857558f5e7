// The network stack's Web Worker (a module worker, started by
// netvm-browser-net.js). It runs netvm-stack (wasm-bindgen, --target web):
// one Service (the proxy's CA and its fetch() upstream) and one Link per
// guest WebSocket.
//
// Messages from the page:
//   {type: 'start', options}          -> {type: 'ready', caPem} | {type: 'failed', message}
//   {type: 'open', link}
//   {type: 'data', link, bytes}       -> {type: 'ack', link, n} once the stack took them
//   {type: 'close', link}
// To the page:
//   {type: 'data', link, bytes}       framed bytes for the guest (ArrayBuffer, transferred)
//   {type: 'error', link, message}    the link is unusable (bad frame length); close it
import init, { Service } from './netvm_stack.js';

let service = null;
const links = new Map();
// Messages that arrive while the wasm module is compiling, in order.
let waiting = [];

function handle(msg) {
  switch (msg.type) {
    case 'open': {
      const id = msg.link;
      const link = service.openLink((bytes) => {
        self.postMessage({ type: 'data', link: id, bytes: bytes.buffer }, [bytes.buffer]);
      });
      links.set(id, link);
      break;
    }
    case 'data': {
      const link = links.get(msg.link);
      if (link) {
        try {
          link.push(new Uint8Array(msg.bytes));
        } catch (e) {
          links.delete(msg.link);
          link.free();
          self.postMessage({ type: 'error', link: msg.link, message: String(e && e.message || e) });
        }
      }
      // Acknowledged even for a closed link, so the page's credit is returned.
      self.postMessage({ type: 'ack', link: msg.link, n: msg.bytes.byteLength });
      break;
    }
    case 'close': {
      const link = links.get(msg.link);
      if (link) {
        links.delete(msg.link);
        link.free();
      }
      break;
    }
    case 'stats': {
      const link = links.get(msg.link);
      self.postMessage({ type: 'stats', id: msg.id, stats: link ? link.stats() : null });
      break;
    }
    default:
      console.warn('netvm-stack worker: unknown message', msg && msg.type);
  }
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type !== 'start') {
    if (waiting) waiting.push(msg);
    else handle(msg);
    return;
  }
  try {
    await init({ module_or_path: new URL('./netvm_stack_bg.wasm', import.meta.url) });
    service = new Service(msg.options || {});
    self.postMessage({ type: 'ready', caPem: service.caPem });
  } catch (e) {
    self.postMessage({ type: 'failed', message: String(e && e.message || e) });
    return;
  }
  const queued = waiting;
  waiting = null;
  for (const m of queued) handle(m);
};
