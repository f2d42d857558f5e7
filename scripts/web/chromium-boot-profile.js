// Where the page's boot time goes (a diagnostic, not a test): opens the
// page in headless Chromium, records a CPU profile of the page's main
// thread and of every worker (the emulator's pthread among them) until the
// guest's ready line, and writes them with the terminal text and the
// page's request times.
//
//   node chromium-boot-profile.js SITE_URL OUT_DIR [SAMPLING_US]
//
// OUT_DIR gets PAGE-N-TYPE.cpuprofile (open them in Chromium's DevTools,
// Performance panel), terminal.txt and timeline.txt. NETVM_JS_FLAGS passes
// V8 flags (e.g. --trace-wasm-compilation-times; with DEBUG=pw:browser
// playwright prints the browser's output).
// Workers are reached over the DevTools protocol directly (flattened
// sessions, auto-attach paused at start), which playwright's sessions do
// not expose.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const WebSocket = require('ws');
const { CHROMIUM_ARGS, terminalText } = require('./page-driver');

const [url, outDir, sampling] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: chromium-boot-profile.js SITE_URL OUT_DIR [SAMPLING_US]');
  process.exit(2);
}

// A minimal DevTools protocol client over the browser's WebSocket.
function cdpClient(ws) {
  let lastId = 0;
  const pending = new Map();
  const listeners = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(raw);
    if (m.id && pending.has(m.id)) {
      const { resolve, reject } = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) reject(new Error(`${m.error.message} (${m.error.code})`));
      else resolve(m.result);
    } else listeners.forEach((l) => l(m));
  });
  return {
    send(method, params = {}, sessionId) {
      const id = ++lastId;
      ws.send(JSON.stringify({ id, method, params, sessionId }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    on(listener) { listeners.push(listener); },
  };
}

async function devToolsUrl(userDataDir) {
  const file = path.join(userDataDir, 'DevToolsActivePort');
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(file)) {
      const [port, wsPath] = fs.readFileSync(file, 'utf8').split('\n');
      if (wsPath) return `ws://127.0.0.1:${port}${wsPath}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('Chromium wrote no DevToolsActivePort');
}

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-profile-'));
  const args = CHROMIUM_ARGS.concat(['--remote-debugging-port=0']);
  if (process.env.NETVM_JS_FLAGS) args.push(`--js-flags=${process.env.NETVM_JS_FLAGS}`);
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1000, height: 600 },
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const ws = new WebSocket(await devToolsUrl(userDataDir));
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    const cdp = cdpClient(ws);
    const { targetInfos } = await cdp.send('Target.getTargets');
    const pageTarget = targetInfos.find((t) => t.type === 'page');
    const { sessionId: pageSession } = await cdp.send('Target.attachToTarget', { targetId: pageTarget.targetId, flatten: true });
    const sessions = [{ sessionId: pageSession, type: 'page' }];
    const start = Date.now();
    const timeline = [];
    const profile = async (sessionId) => {
      await cdp.send('Profiler.enable', {}, sessionId);
      await cdp.send('Profiler.setSamplingInterval', { interval: Number(sampling || 500) }, sessionId);
      await cdp.send('Profiler.start', {}, sessionId);
    };
    // Every worker is paused at its start until its profiler runs.
    cdp.on(async (m) => {
      if (m.method !== 'Target.attachedToTarget') return;
      const { sessionId, targetInfo } = m.params;
      sessions.push({ sessionId, type: targetInfo.type });
      timeline.push(`${((Date.now() - start) / 1000).toFixed(3)} ${targetInfo.type} started ${targetInfo.url}`);
      await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, sessionId);
      await profile(sessionId);
      await cdp.send('Runtime.runIfWaitingForDebugger', {}, sessionId);
    });
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, pageSession);
    await profile(pageSession);
    page.on('request', (r) => timeline.push(`${((Date.now() - start) / 1000).toFixed(3)} request ${r.url()}`));
    page.on('requestfinished', (r) => timeline.push(`${((Date.now() - start) / 1000).toFixed(3)} received ${r.url()}`));
    await page.goto(url);
    for (;;) {
      if ((await terminalText(page)).includes('netvm-guest: ready')) break;
      if (Date.now() - start > 300000) throw new Error('no ready line within 300 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const boot = (Date.now() - start) / 1000;
    timeline.push(`${boot.toFixed(3)} ready line`);
    const marks = await page.evaluate(() => window.netvm.events.filter((e) => e.ms !== undefined)
      .map((e) => `${(e.ms / 1000).toFixed(3)} page event ${e.name}: ${e.detail} (since navigation)`));
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'terminal.txt'), await terminalText(page));
    fs.writeFileSync(path.join(outDir, 'timeline.txt'), timeline.concat(marks).sort((a, b) => parseFloat(a) - parseFloat(b)).join('\n') + '\n');
    for (let i = 0; i < sessions.length; i++) {
      try {
        const { profile: p } = await cdp.send('Profiler.stop', {}, sessions[i].sessionId);
        fs.writeFileSync(path.join(outDir, `${i}-${sessions[i].type}.cpuprofile`), JSON.stringify(p));
      } catch (e) {
        console.error(`chromium-boot-profile: no profile from ${sessions[i].type} ${i}: ${e.message}`);
      }
    }
    console.log(`boot ${boot.toFixed(3)} s; profiles in ${outDir}`);
    ws.close();
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(`chromium-boot-profile: ${e.message}`);
  process.exit(1);
});
