// Drives the page running pty_echo (netvm-pty-bridge in raw mode) in
// headless Chromium: what a guest's serial console would receive.
//
//   node chromium-pty-test.js URL SCREENSHOT.png
//
// Checks: the window size reaches the program; Ctrl-C arrives as the byte
// 0x03 (no signal, no line editing); pasted text arrives as bytes with the
// newline as CR, as from a real terminal; resizing the page resizes the
// terminal and the program is told (SIGWINCH) the new size; `q` ends it.
'use strict';
const { waitForText, runPageTest } = require('./page-driver');

const [url, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: chromium-pty-test.js URL SCREENSHOT.png');
  process.exit(2);
}

async function termSize(page) {
  return page.evaluate(() => `${window.netvm.term.cols}x${window.netvm.term.rows}`);
}

runPageTest('chromium-pty', url, screenshot, async (page) => {
  const ready = await waitForText(page, /pty_echo: ready, size (\S+)/, 60000);
  const size = await termSize(page);
  if (ready[1] !== size) throw new Error(`program saw size ${ready[1]}, terminal is ${size}`);

  await page.click('#terminal');
  await page.keyboard.press('Control+C');
  await waitForText(page, 'pty_echo: got 03', 10000);

  await page.evaluate(() => window.netvm.term.paste('ab\ncd'));
  await waitForText(page, 'pty_echo: got 61 62 0d 63 64', 10000);

  await page.setViewportSize({ width: 640, height: 360 });
  const resized = await waitForText(page, /pty_echo: resize (\S+)/, 10000);
  const newSize = await termSize(page);
  if (newSize === size) throw new Error(`terminal did not change size on a page resize (${size})`);
  if (resized[1] !== newSize) throw new Error(`program was told ${resized[1]}, terminal is ${newSize}`);

  await page.keyboard.press('q');
  await waitForText(page, 'pty_echo: bye', 10000);
  await page.waitForFunction(() => window.netvm.exited !== null, null, { timeout: 10000 });
  const exited = await page.evaluate(() => window.netvm.exited);
  if (exited !== 0) throw new Error(`exit status ${exited}`);
  console.log(`chromium-pty: ok, size ${size} then ${newSize}; Ctrl-C, paste and resize reached the program`);
});
