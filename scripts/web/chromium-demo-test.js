// Drives the page running browser_demo in headless Chromium and checks what
// it printed in the terminal.
//
//   node chromium-demo-test.js URL EXPECTED_FILE_LINE SCREENSHOT.png
//
// URL must make the page run browser_demo with --file and --connect. The
// test waits for the prompt, types a line with the keyboard into xterm.js,
// and expects it back from the program through xterm-pty.
'use strict';
const { waitForText, runPageTest } = require('./page-driver');

const [url, expectedFileLine, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: chromium-demo-test.js URL EXPECTED_FILE_LINE SCREENSHOT.png');
  process.exit(2);
}
const TYPED = 'hello from chromium ⌨';

runPageTest('chromium-demo', url, screenshot, async (page) => {
  const started = Date.now();
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
  for (const e of expect) if (!text.includes(e)) throw new Error(`terminal lacks ${JSON.stringify(e)}:\n${text}`);

  const state = await page.evaluate(() => ({
    exited: window.netvm.exited,
    status: window.netvm.status,
    progress: [document.getElementById('progress').value, document.getElementById('progress').max],
    progressHidden: document.getElementById('progress').hidden,
  }));
  if (state.exited !== 0) throw new Error(`program exit status ${state.exited}`);
  if (state.progressHidden || !(state.progress[1] > 1) || state.progress[0] !== state.progress[1]) {
    throw new Error(`progress bar did not show a complete download: ${JSON.stringify(state)}`);
  }
  if (!/browser_demo done|Exited with status 0/.test(state.status)) throw new Error(`status line: ${state.status}`);
  const first = await page.evaluate(() => window.Module.preloadResults['pack.data']);
  if (!first || first.fromCache !== false) throw new Error(`first load: ${JSON.stringify(first)}`);
  console.log(text.trim());

  // The program started without waiting for the cache write; it commits.
  await page.waitForFunction(() => window.Module.preloadResults['pack.data'].cacheWrite !== 'pending', null, { timeout: 30000 });
  const written = await page.evaluate(() => window.Module.preloadResults['pack.data'].cacheWrite);
  if (written !== 'done') throw new Error(`the package was not cached: ${written}`);

  // Reload: the package now comes from IndexedDB, without a request.
  const dataRequests = [];
  page.on('request', (r) => { if (r.url().includes('pack.data')) dataRequests.push(r.url()); });
  const reloadStart = Date.now();
  await page.reload();
  await waitForText(page, 'browser_demo: type a line:', 60000);
  const reloadMs = Date.now() - reloadStart;
  const again = await page.evaluate(() => window.Module.preloadResults['pack.data']);
  if (!again || again.fromCache !== true) throw new Error(`reload did not use the cache: ${JSON.stringify(again)}`);
  if (dataRequests.length) throw new Error(`reload fetched the package again: ${dataRequests}`);
  if (!(await waitForText(page, expectedFileLine, 1000))) throw new Error('file differs after reload');
  console.log(`chromium-demo: ok, prompt after ${readyMs} ms (reload from cache ${reloadMs} ms), ` +
    `package ${state.progress[1]} bytes, status "${state.status}"`);
});
