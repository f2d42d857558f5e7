// The scripted guest of scripts/test.d/23-net-stack-chromium, in the page.
//
// The real netvm-browser-net.js starts the netvm-stack worker and intercepts
// WebSockets to URL; this page then opens such a WebSocket, as emscripten's
// socket emulation would, and a guest compiled to wasm (stack/test-client:
// smoltcp + rustls) speaks Ethernet frames over it. Each check's outcome
// goes to window.stackTest for the driver (run.js).
import { startBrowserNetwork } from './netvm-browser-net.js';
import initClient, { Guest } from './test-client/netvm_stack_test_client.js';

const URL_ = 'ws://localhost:9999/';
const params = new URLSearchParams(location.search);
const origin = params.get('origin'); // https://localhost:PORT
const refused = params.get('refused'); // http://127.0.0.1:PORT with nothing listening
const blobSize = Number(params.get('size'));
const blobSha = params.get('sha');
const postSize = Number(params.get('postSize') || 1000000);
const originHost = new URL(origin).host;
const transparent = params.get('transparent') === '1';

const state = (window.stackTest = { done: false, ok: false, checks: [], error: null });
const log = (line) => {
  document.getElementById('log').textContent += line + '\n';
  console.log(line);
};
function check(name, ok, detail) {
  state.checks.push({ name, ok, detail });
  log(`${ok ? 'ok' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
  if (!ok) throw new Error(`${name}: ${detail}`);
}

const statusLine = (p) => p.head.split('\r\n')[0];

async function sha256hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Splits an HTTP/1.1 response into status, head text and decoded body.
function parseResponse(bytes) {
  const text = new TextDecoder('latin1');
  let end = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) { end = i + 4; break; }
  }
  if (end < 0) throw new Error(`no response head in ${bytes.length} bytes: ${text.decode(bytes.slice(0, 200))}`);
  const head = text.decode(bytes.slice(0, end));
  const status = Number(head.split(' ')[1]);
  let body = bytes.slice(end);
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const parts = [];
    let pos = 0;
    for (;;) {
      let eol = pos;
      while (eol + 1 < body.length && !(body[eol] === 13 && body[eol + 1] === 10)) eol++;
      const size = parseInt(text.decode(body.slice(pos, eol)), 16);
      if (!(size >= 0)) throw new Error(`bad chunk size at ${pos}`);
      pos = eol + 2;
      if (size === 0) break;
      if (pos + size > body.length) throw new Error(`truncated chunk at ${pos}`);
      parts.push(body.slice(pos, pos + size));
      pos += size + 2;
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { joined.set(p, at); at += p.length; }
    body = joined;
  } else {
    const m = head.match(/\r\ncontent-length: *(\d+)/i);
    if (m && body.length !== Number(m[1])) throw new Error(`body of ${body.length} bytes, Content-Length ${m[1]}`);
  }
  return { status, head, body };
}

async function main() {
  const net = await startBrowserNetwork({ url: URL_, transparent, logLevel: params.get('log') || 'warn' });
  check('CA certificate exported', /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n?$/.test(net.caPem));
  check('CA key stays in the worker', !/PRIVATE KEY/.test(net.caPem));
  await initClient();
  const guest = new Guest('02:00:00:00:00:01');
  guest.trustPem(net.caPem);

  // As emscripten's SOCKFS opens it (subprotocol "binary", ArrayBuffers).
  const ws = new WebSocket(URL_, ['binary']);
  ws.binaryType = 'arraybuffer';
  let closed = null;
  let closing = false;
  ws.onclose = (e) => { closed = `closed ${e.code} ${e.reason}`; };
  let pending = false;
  const pump = () => {
    pending = false;
    const out = guest.poll(performance.now());
    if (out.length && ws.readyState === WebSocket.OPEN) ws.send(out);
  };
  ws.onmessage = (e) => {
    guest.receive(new Uint8Array(e.data));
    if (!pending) { pending = true; queueMicrotask(pump); }
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket error')); });
  check('intercepted WebSocket opened', ws.protocol === 'binary', `protocol ${JSON.stringify(ws.protocol)}`);
  const timer = setInterval(pump, 2);

  const until = async (what, fn, ms) => {
    const end = performance.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined && v !== null) return v;
      if (closed && !closing) throw new Error(`${what}: link ${closed}`);
      if (performance.now() > end) throw new Error(`${what}: nothing after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const exchange = async (what, { ip = '192.168.127.253', port = 80, tunnel, tls, request, ms = 60000 }) => {
    const started = performance.now();
    const id = guest.exchange(ip, port, tunnel, tls, typeof request === 'string' ? new TextEncoder().encode(request) : request);
    const r = await until(what, () => guest.result(id), ms);
    r.ms = performance.now() - started;
    return r;
  };

  // DHCP (and ARP for the gateway, which every later frame needs).
  const address = await until('DHCP', () => guest.address(), 20000);
  check('DHCP address', address === '192.168.127.3/24', address);
  check('DHCP router', guest.router() === '192.168.127.1', guest.router());

  if (transparent) await transparentChecks(guest, exchange, until);
  else await proxyChecks(exchange);

  const stats = await net.stats();
  check('nothing left in flight, no frame dropped', stats.length === 1 && stats[0].inFlight === 0 && stats[0].queued === 0 && stats[0].stack.framesDropped === 0,
    JSON.stringify(stats));
  clearInterval(timer);
  closing = true;
  ws.close();
  await until('guest link closed', () => closed, 5000);
  if (!transparent) await linkChecks(net, until);
  net.stop();
  state.ok = true;
}

async function proxyChecks(exchange) {
  let r, p;
  // CONNECT + TLS terminated by the proxy with a leaf from its CA, then
  // fetch() to the origin.
  const get = `GET /blob/${blobSize} HTTP/1.1\r\nHost: ${originHost}\r\nConnection: close\r\n\r\n`;
  r = await exchange('CONNECT', { tunnel: originHost, tls: 'localhost', request: get });
  check('CONNECT + TLS: no error', r.error === null, r.error);
  p = parseResponse(r.bytes);
  check('CONNECT + TLS: status 200', p.status === 200, statusLine(p));
  check('CONNECT + TLS: body sha256', p.body.length === blobSize && (await sha256hex(p.body)) === blobSha,
    `${p.body.length} bytes in ${r.ms.toFixed(0)} ms`);
  state.connectMs = r.ms;

  // busybox wget with https_proxy: GET https://... in plain HTTP.
  r = await exchange('GET https://', { request: `GET ${origin}/blob/${blobSize} HTTP/1.1\r\nHost: ${originHost}\r\nConnection: close\r\n\r\n` });
  p = parseResponse(r.bytes);
  check('GET https:// via proxy: status 200', r.error === null && p.status === 200, r.error || statusLine(p));
  check('GET https:// via proxy: body sha256', (await sha256hex(p.body)) === blobSha, `${p.body.length} bytes`);

  // A request body, through fetch().
  const upload = new Uint8Array(postSize);
  crypto.getRandomValues(upload.subarray(0, Math.min(postSize, 65536)));
  for (let i = 65536; i < postSize; i++) upload[i] = upload[i % 65536] ^ (i & 0xff);
  const postHead = new TextEncoder().encode(`POST ${origin}/sha HTTP/1.1\r\nHost: ${originHost}\r\nContent-Length: ${postSize}\r\nConnection: close\r\n\r\n`);
  const postReq = new Uint8Array(postHead.length + postSize);
  postReq.set(postHead);
  postReq.set(upload, postHead.length);
  r = await exchange('POST', { request: postReq });
  p = parseResponse(r.bytes);
  const want = `${postSize} ${await sha256hex(upload)}`;
  check('POST body reaches the origin', p.status === 200 && new TextDecoder().decode(p.body) === want, new TextDecoder().decode(p.body));

  // Non-2xx answers pass through with their bodies.
  r = await exchange('404', { tunnel: originHost, tls: 'localhost', request: `GET /missing HTTP/1.1\r\nHost: ${originHost}\r\nConnection: close\r\n\r\n` });
  p = parseResponse(r.bytes);
  check('404 passed through', p.status === 404 && new TextDecoder().decode(p.body) === 'nothing at /missing\n', statusLine(p));

  // A refused upstream: 502 with the browser's reason, at once.
  r = await exchange('refused', { request: `GET ${refused}/ HTTP/1.1\r\nHost: ${new URL(refused).host}\r\nConnection: close\r\n\r\n`, ms: 30000 });
  p = parseResponse(r.bytes);
  const why = new TextDecoder().decode(p.body);
  check('refused upstream: 502', p.status === 502, statusLine(p));
  check('refused upstream: reason in the body', /Failed to fetch/.test(why) && /CORS, DNS, connection or TLS/.test(why), why.trim());

  // No NAT in the browser: TCP elsewhere is reset, not left hanging.
  r = await exchange('RST', { ip: '10.1.2.3', port: 80, request: 'GET / HTTP/1.0\r\n\r\n', ms: 10000 });
  check('TCP to a non-proxy address is reset', r.error === 'connection refused (RST)', r.error);

}

// The link itself: a burst far beyond the page's in-flight limit is queued,
// not dropped (every frame reaches the stack), and a stream that announces
// an impossible frame length is closed with the reason.
async function linkChecks(net, until) {
  const open = async () => {
    const ws = new WebSocket(URL_, ['binary']);
    ws.binaryType = 'arraybuffer';
    ws.closedWith = null;
    ws.onclose = (e) => { ws.closedWith = { code: e.code, reason: e.reason }; };
    await new Promise((resolve) => { ws.onopen = resolve; });
    return ws;
  };
  // 8000 frames of 1514 bytes (12 MB) of an experimental EtherType
  // (IEEE 802 local, 0x88b5): the stack counts each and drops it as not
  // for it; what matters is that all of them arrive.
  const frames = 8000;
  const frame = new Uint8Array(4 + 1514);
  new DataView(frame.buffer).setUint32(0, 1514);
  frame.set([0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd, 0x02, 0, 0, 0, 0, 0x07, 0x88, 0xb5], 4);
  const burst = await open();
  for (let i = 0; i < frames; i++) burst.send(frame);
  await new Promise((r) => setTimeout(r, 0));
  const during = (await net.stats()).find((l) => l.stack && l.stack.framesIn < frames);
  check('burst: the page queues beyond its in-flight limit', during && during.queued > 0 && during.inFlight <= (1 << 20) + frame.length,
    JSON.stringify(during));
  const after = await until('burst delivered', async () => {
    const l = (await net.stats())[0];
    return l && l.stack.framesIn === frames && l.inFlight === 0 && l.queued === 0 ? l : null;
  }, 30000);
  check('burst: every frame reached the stack', after.stack.framesIn === frames, JSON.stringify(after));
  burst.close();

  const bad = await open();
  bad.send(new Uint8Array([0, 0, 0x10, 0]));
  const closedWith = await until('bad length closes the link', () => bad.closedWith, 5000);
  check('a bad frame length closes the link', closedWith.code === 4000 && /frame length prefix 4096/.test(closedWith.reason),
    JSON.stringify(closedWith));
}

// Transparent mode: no proxy settings; DNS gives a pool address and TLS to
// it is terminated by the proxy, which takes the name from SNI.
async function transparentChecks(guest, exchange, until) {
  guest.lookup('localhost');
  const answer = await until('DNS', () => guest.lookupResult(), 10000);
  check('transparent DNS: a pool address', /^198\.18\.\d+\.\d+$/.test(answer.address || ''), JSON.stringify(answer));
  const get = `GET /blob/${blobSize} HTTP/1.1\r\nHost: ${originHost}\r\nConnection: close\r\n\r\n`;
  const port = Number(new URL(origin).port);
  const r = await exchange('transparent TLS', { ip: answer.address, port, tls: 'localhost', request: get });
  check('transparent TLS: no error', r.error === null, r.error);
  const p = parseResponse(r.bytes);
  check('transparent TLS: status 200', p.status === 200, statusLine(p));
  check('transparent TLS: body sha256', p.body.length === blobSize && (await sha256hex(p.body)) === blobSha,
    `${p.body.length} bytes in ${r.ms.toFixed(0)} ms`);
  state.connectMs = r.ms;
  const rst = await exchange('RST', { ip: '10.1.2.3', port: 443, request: 'x', ms: 10000 });
  check('transparent: TCP to a non-pool address is reset', rst.error === 'connection refused (RST)', rst.error);
}

main().catch((e) => {
  state.error = String(e && e.stack || e);
  log(`FAIL ${state.error}`);
}).finally(() => { state.done = true; });
