// The guest in the page with the in-browser network (?net=browser): netvm
// boots the guest image, the page starts netvm-stack (netvm-browser-net.js)
// and writes its CA to the 9p share, and the guest runs the seed's
// browser-mode steps, then fetches from a local HTTPS origin through the
// proxy, whose upstream is Chromium's fetch().
//
//   node chromium-guest-browser-net.js SITE_URL ORIGIN_URL SIZE SHA256 SPKI_HASHES SCREENSHOT.png
//
// ORIGIN_URL (https://localhost:PORT) serves /blob/SIZE with the given
// sha256 (stack/tests/chromium/origin.mjs); SPKI_HASHES make Chromium
// accept its test certificate (--ignore-certificate-errors-spki-list).
'use strict';
const { chromium } = require('playwright-core');
const { waitForText, terminalText, runCommand } = require('./page-driver');

const [siteUrl, origin, size, sha, spki, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: chromium-guest-browser-net.js SITE_URL ORIGIN_URL SIZE SHA256 SPKI_HASHES SCREENSHOT.png');
  process.exit(2);
}
// page-driver.js's flags plus the origin's certificate.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--ignore-certificate-errors-spki-list=${spki}`];

// Commands at the guest's shell (page-driver's runCommand).
const run = (page, command, timeoutMs = 180000) => runCommand(page, command, timeoutMs);

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
  const lines = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  try {
    await page.goto(`${siteUrl}?net=browser`);
    const started = Date.now();
    await waitForText(page, 'netvm-guest: ready', 300000);
    const bootMs = Date.now() - started;
    await page.click('#terminal');
    await run(page, 'true');
    const status = await page.evaluate(() => window.netvm.status);
    if (!status.includes('in-browser')) throw new Error(`status line does not name the network mode: ${status}`);

    // The seed's browser-mode steps.
    await run(page, 'mount -t tmpfs tmpfs /etc; touch /etc/hosts /etc/resolv.conf');
    const lease = await run(page, 'udhcpc -i eth0');
    if (!/lease of 192\.168\.127\.\d+ obtained/.test(lease)) throw new Error(`no lease:\n${lease}`);
    await run(page, 'mkdir -p /mnt && mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L');
    const cert = await run(page, 'head -1 /mnt/proxy.crt');
    if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`no proxy.crt on the share:\n${cert}`);
    await run(page, 'export SSL_CERT_FILE=/mnt/proxy.crt https_proxy=http://192.168.127.253:80 http_proxy=http://192.168.127.253:80');

    const t0 = Date.now();
    const got = await run(page, `wget -q -O - ${origin}/blob/${size} | sha256sum`);
    const wgetMs = Date.now() - t0;
    if (!got.includes(sha)) throw new Error(`sha256 of the guest's download is not ${sha}:\n${got}`);
    const missing = await run(page, `wget -q -O - ${origin}/nothing-here 2>&1 | head -3; true`);
    if (!/404 Not Found/.test(missing)) throw new Error(`a 404 through the proxy did not say so:\n${missing}`);
    console.log(`chromium-guest browser-net: ok, ready line after ${bootMs} ms; lease, proxy.crt on wasm0, ` +
      `wget ${size} bytes over https through the in-page proxy in ${wgetMs} ms (sha256 ok), 404 reported`);
    await page.screenshot({ path: screenshot });
  } catch (e) {
    await page.screenshot({ path: screenshot }).catch(() => {});
    console.error(lines.join('\n'));
    console.error((await terminalText(page).catch(() => '')).slice(-3000));
    console.error(`chromium-guest browser-net: FAILED: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
