// Shared helpers for netvm's page tests in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; no browser download).
'use strict';
const { chromium } = require('playwright-core');

// Flags that work as root in these machines (TOOLCHAIN.md); playwright adds
// --headless and a fresh profile directory itself.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

// Opens `url` in a new page that records console output for failure reports.
async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
  page.consoleLines = [];
  page.on('console', (m) => page.consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.consoleLines.push(`pageerror: ${e.message}`));
  // Host clock (ms) when the navigation was asked for, for timings.
  page.gotoAt = Date.now();
  await page.goto(url);
  if (!(await page.evaluate(() => self.crossOriginIsolated))) throw new Error('page is not cross-origin isolated');
  return page;
}

// The terminal's whole buffer (scrollback included) as text.
async function terminalText(page) {
  return page.evaluate(() => {
    const buf = window.netvm && window.netvm.term && window.netvm.term.buffer.active;
    if (!buf) return '';
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join('\n');
  });
}

// Waits until the terminal text matches `want` (string or RegExp); returns
// the text, or the match for a RegExp.
async function waitForText(page, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await terminalText(page);
    if (typeof want === 'string' ? text.includes(want) : want.test(text)) {
      return typeof want === 'string' ? text : text.match(want);
    }
    if (Date.now() > deadline) {
      const status = await page.evaluate(() => window.netvm && window.netvm.status);
      throw new Error(`timed out waiting for ${want}; status ${JSON.stringify(status)}; terminal:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Runs `test(page)`; on failure saves the screenshot anyway and prints the
// page's console, then exits non-zero.
let commandCount = 0;
// Types `command` at the guest's shell and waits for it to finish with
// status 0; returns its output (the terminal text between the typed line and
// the marker). A numbered marker, so an earlier command's cannot match.
async function runCommand(page, command, timeoutMs = 180000) {
  const n = ++commandCount;
  const before = (await terminalText(page)).length;
  await page.keyboard.type(`${command}; echo DONE-${n}-$?`);
  await page.keyboard.press('Enter');
  const match = await waitForText(page, new RegExp(`\\nDONE-${n}-(\\d+)`), timeoutMs);
  const text = await terminalText(page);
  const output = text.substring(before, text.indexOf(`\nDONE-${n}-`, before));
  if (match[1] !== '0') throw new Error(`\`${command}\` failed with status ${match[1]}:\n${output}`);
  return output;
}

async function runPageTest(name, url, screenshot, test) {
  const browser = await launch();
  let page = null;
  try {
    page = await openPage(browser, url);
    await test(page);
    await page.screenshot({ path: screenshot });
  } catch (e) {
    if (page) {
      await page.screenshot({ path: screenshot }).catch(() => {});
      console.error(page.consoleLines.join('\n'));
    }
    console.error(`${name}: FAILED: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

module.exports = { CHROMIUM_ARGS, launch, openPage, terminalText, waitForText, runCommand, runPageTest };
