// Drives the netvm-stack test page (index.html, test.js) in headless
// Chromium and prints its checks.
//
//   node run.js PAGE_URL SPKI_HASHES
//
// SPKI_HASHES (base64 SHA-256 of SubjectPublicKeyInfo, comma-separated)
// are the test CA and origin certificates Chromium accepts: the page's
// fetch() then reaches the test's HTTPS origin for real.
'use strict';
const { chromium } = require('playwright-core');

const [url, spki] = process.argv.slice(2);
if (!spki) {
  console.error('usage: run.js PAGE_URL SPKI_HASHES');
  process.exit(2);
}
// As scripts/web/page-driver.js; playwright adds --headless and a fresh
// --user-data-dir, which the SPKI list needs.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--ignore-certificate-errors-spki-list=${spki}`];

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  const lines = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.stackTest && window.stackTest.done, null, { timeout: 240000 });
    const result = await page.evaluate(() => window.stackTest);
    for (const c of result.checks) console.log(`${c.ok ? 'ok' : 'FAIL'} ${c.name}${c.detail ? ': ' + c.detail : ''}`);
    if (!result.ok) throw new Error(result.error || 'the page did not finish');
    console.log(`stack-connect-get-ms ${Math.round(result.connectMs)}`);
  } catch (e) {
    console.error(lines.join('\n'));
    console.error(`net-stack-chromium: FAILED: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
