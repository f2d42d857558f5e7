// Browser mode's network: the netvm-stack worker (DHCP, DNS, the HTTP/HTTPS
// proxy at 192.168.127.253 over fetch()) and a WebSocket interceptor that
// hands it the emulator's link.
//
// emscripten's socket emulation opens the NIC's WebSocket on the page's main
// thread (even though the emulator runs in a pthread), so the interceptor
// patches this thread's WebSocket: a WebSocket to `url` never reaches the
// network; its byte stream (QEMU stream framing) goes to the worker and the
// worker's frames come back as messages. Other URLs pass through untouched.
//
//   const { caPem, stop } = await startBrowserNetwork({ url: 'ws://localhost:9999/' });
//
// Options: transparent (DNS answers every name, the proxy serves them:
// docs/stack.md), logLevel ('warn'; 'debug' shows the stack's log in the
// console), guestMac (the MAC that DHCP gives 192.168.127.3).
//
// Flow control: bytes are posted to the worker with at most MAX_IN_FLIGHT
// unacknowledged per link; beyond that they wait here, in order. Nothing is
// dropped: the guest's TCP windows bound what can be outstanding.
import { WebSocketInterceptor } from './vendor/mswjs-websocket.js';

const MAX_IN_FLIGHT = 1 << 20;

// Compares WebSocket URLs as the browser resolves them ("ws://h:9999" and
// "ws://h:9999/" are the same).
function canonical(url) {
  return new URL(String(url), location.href).href;
}

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return null;
}

export async function startBrowserNetwork({ url, transparent = false, logLevel = 'warn', guestMac } = {}) {
  if (!url) throw new Error('startBrowserNetwork: no url to intercept');
  const target = canonical(url);
  const worker = new Worker(new URL('./netvm-stack/worker.js', import.meta.url), { type: 'module', name: 'netvm-stack' });
  const caPem = await new Promise((resolve, reject) => {
    worker.onmessage = (e) => {
      if (e.data.type === 'ready') resolve(e.data.caPem);
      else if (e.data.type === 'failed') reject(new Error(`netvm-stack: ${e.data.message}`));
    };
    worker.onerror = (e) => reject(new Error(`netvm-stack worker failed to load: ${e.message || 'see the console'}`));
    const options = { transparent, logLevel };
    if (guestMac) options.guestMac = guestMac;
    worker.postMessage({ type: 'start', options });
  });

  const links = new Map();
  const statsWaiters = new Map();
  let nextLink = 1;
  let nextStats = 1;

  const post = (link, bytes) => {
    link.inFlight += bytes.byteLength;
    worker.postMessage({ type: 'data', link: link.id, bytes }, [bytes]);
  };
  const toWorker = (link, bytes) => {
    if (link.queue.length === 0 && (link.inFlight === 0 || link.inFlight + bytes.byteLength <= MAX_IN_FLIGHT)) {
      post(link, bytes);
    } else {
      link.queue.push(bytes);
      link.queued += bytes.byteLength;
    }
  };

  worker.onmessage = (e) => {
    const msg = e.data;
    if (msg.type === 'stats') {
      statsWaiters.get(msg.id)?.(msg.stats);
      statsWaiters.delete(msg.id);
      return;
    }
    const link = links.get(msg.link);
    if (!link) return;
    if (msg.type === 'data') {
      // Deliver as a real WebSocket would for the socket's binaryType.
      link.client.send(link.client.socket.binaryType === 'blob' ? new Blob([msg.bytes]) : msg.bytes);
    } else if (msg.type === 'ack') {
      link.inFlight -= msg.n;
      while (link.queue.length && (link.inFlight === 0 || link.inFlight + link.queue[0].byteLength <= MAX_IN_FLIGHT)) {
        const next = link.queue.shift();
        link.queued -= next.byteLength;
        post(link, next);
      }
    } else if (msg.type === 'error') {
      console.error(`netvm-stack: link ${link.id}: ${msg.message}`);
      links.delete(link.id);
      link.client.close(4000, msg.message.slice(0, 100));
    }
  };
  worker.onerror = (e) => console.error('netvm-stack worker error:', e.message || e);

  const interceptor = new WebSocketInterceptor();
  interceptor.on('connection', ({ client, server }) => {
    if (canonical(client.url) !== target) {
      server.connect(); // not ours: the real WebSocket
      return;
    }
    const link = { id: nextLink++, client, inFlight: 0, queue: [], queued: 0 };
    links.set(link.id, link);
    worker.postMessage({ type: 'open', link: link.id });
    client.addEventListener('message', (event) => {
      const bytes = bytesOf(event.data);
      if (!bytes) {
        console.error('netvm-stack: the guest link sent a text or Blob message; closing it');
        client.close(4001, 'binary messages only');
        return;
      }
      if (links.has(link.id)) toWorker(link, bytes);
    });
    client.addEventListener('close', () => {
      if (links.delete(link.id)) worker.postMessage({ type: 'close', link: link.id });
    });
  });
  interceptor.apply();

  return {
    caPem,
    url: target,
    /** Per open link: bytes waiting here and in flight to the worker, and the worker's counters. */
    async stats() {
      const out = [];
      for (const link of links.values()) {
        const id = nextStats++;
        const stack = await new Promise((resolve) => {
          statsWaiters.set(id, resolve);
          worker.postMessage({ type: 'stats', link: link.id, id });
        });
        out.push({ link: link.id, inFlight: link.inFlight, queued: link.queued, stack });
      }
      return out;
    },
    /** Removes the interceptor, closes the links and ends the worker. */
    stop() {
      interceptor.dispose();
      for (const link of links.values()) link.client.close(1000, 'network stopped');
      links.clear();
      worker.terminate();
    },
  };
}
