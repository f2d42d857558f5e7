// Drives the demo page in headless Chromium (Debian's, through
// playwright-core) and checks what browser_demo printed in the terminal.
//
//   node chromium-demo-test.js URL EXPECTED_FILE_LINE SCREENSHOT.png
//
// URL must make the page run browser_demo with --file and --connect. The
// test waits for the prompt, types a line with the keyboard into xterm.js,
// and expects it echoed back by the program through xterm-pty.
'use strict';
const { chromium } = require('playwright-core');

const [url, expectedFileLine, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: chromium-demo-test.js URL EXPECTED_FILE_LINE SCREENSHOT.png');
  process.exit(2);
}

const TYPED = 'hello from chromium ⌨';

function fail(msg) {
  throw new Error(msg);
}

async function terminalText(page) {
  return page.evaluate(() => {
    const buf = window.netvm && window.netvm.term && window.netvm.term.buffer.active;
    if (!buf) return '';
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join('\n');
  });
}

async function waitForText(page, text, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await terminalText(page);
    if (got.includes(text)) return got;
    if (Date.now() > deadline) {
      const status = await page.evaluate(() => window.netvm && window.netvm.status);
      fail(`timed out waiting for ${JSON.stringify(text)}; status ${JSON.stringify(status)}; terminal:\n${got}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const started = Date.now();
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.goto(url);
    try {
      if (!(await page.evaluate(() => self.crossOriginIsolated))) fail('page is not cross-origin isolated');
      await waitForText(page, 'browser_demo: type a line:', 60000);
      const readyMs = Date.now() - started;

      // Real key events into xterm.js, which xterm-pty hands to the program.
      await page.click('#terminal');
      await page.keyboard.type(TYPED);
      await page.keyboard.press('Enter');
      const text = await waitForText(page, 'browser_demo: done', 20000);

      const expect = [
        'browser_demo: hello from Rust on emscripten',
        'browser_demo: clock ok',
        expectedFileLine,
        'browser_demo: tcp ok',
        `browser_demo: you typed ${JSON.stringify(TYPED)}`,
      ];
      for (const e of expect) if (!text.includes(e)) fail(`terminal lacks ${JSON.stringify(e)}:\n${text}`);

      const state = await page.evaluate(() => ({
        exited: window.netvm.exited,
        status: window.netvm.status,
        progress: [document.getElementById('progress').value, document.getElementById('progress').max],
        progressHidden: document.getElementById('progress').hidden,
      }));
      if (state.exited !== 0) fail(`program exit status ${state.exited}`);
      if (state.progressHidden || !(state.progress[1] > 1) || state.progress[0] !== state.progress[1]) {
        fail(`progress bar did not show a complete download: ${JSON.stringify(state)}`);
      }
      if (!/browser_demo done|Exited with status 0/.test(state.status)) fail(`status line: ${state.status}`);
      await page.screenshot({ path: screenshot });
      console.log(text.trim());
      console.log(`chromium-demo: ok, prompt after ${readyMs} ms, package ${state.progress[1]} bytes, status "${state.status}"`);
    } catch (e) {
      await page.screenshot({ path: screenshot }).catch(() => {});
      console.error(consoleLines.join('\n'));
      throw e;
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error('chromium-demo: FAILED: ' + e.message);
  process.exit(1);
});
