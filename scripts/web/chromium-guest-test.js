// Drives the page running netvm (the emulator booting the guest image) in
// headless Chromium and checks the guest's console.
//
//   node chromium-guest-test.js delegate SITE_URL WS_URL HTTP_PORT PAGE_TEXT SCREENSHOT.png
//       ?net=delegate= against netvm-net --listen-ws at WS_URL: the seed's
//       guest steps (tmpfs /etc, udhcpc), a page from the host's HTTP server
//       via 192.168.127.254:HTTP_PORT that must contain PAGE_TEXT, and the
//       9p share wasm0: a file the page writes is read in the guest, a file
//       the guest writes is read by the page.
//   node chromium-guest-test.js offline SITE_URL SCREENSHOT.png
//       no network: uname -a, 400 KB of output, then poweroff; the page reports the machine
//       stopped and the program's exit status 0.
//   node chromium-guest-test.js browser-net SITE_URL SCREENSHOT.png
//       ?net=browser: without netvm-browser-net.js in the site the status
//       line says browser mode is not available and nothing starts; with
//       it, the stack's CA is in the share as proxy.crt before the guest
//       boots, and the guest reads it there.
//
// Commands are typed with real key events into xterm.js. Each is followed by
// `echo DONE-<n>-$?`, and the test waits for the echoed marker with the
// status filled in (the typed line itself shows `$?`, never the digits).
'use strict';
const { waitForText, terminalText, runCommand, runPageTest } = require('./page-driver');

const READY_LINE = 'netvm-guest: ready';
const BOOT_TIMEOUT_MS = 300000;
const COMMAND_TIMEOUT_MS = 120000;

const [mode, ...rest] = process.argv.slice(2);

// Commands at the guest's shell (page-driver's runCommand).
const run = (page, command, timeoutMs = COMMAND_TIMEOUT_MS) => runCommand(page, command, timeoutMs);

async function boot(page) {
  const started = Date.now();
  await waitForText(page, READY_LINE, BOOT_TIMEOUT_MS);
  const bootMs = Date.now() - started;
  await page.click('#terminal');
  // The shell's prompt follows the ready line; an empty command proves it reads.
  await run(page, 'true');
  return bootMs;
}

async function delegate(siteUrl, wsUrl, httpPort, pageText, screenshot) {
  const url = `${siteUrl}?net=delegate=${wsUrl}`;
  await runPageTest('chromium-guest delegate', url, screenshot, async (page) => {
    const bootMs = await boot(page);
    const status = await page.evaluate(() => window.netvm.status);
    if (!status.includes('delegate')) throw new Error(`status line does not name the network mode: ${status}`);

    await run(page, 'mount -t tmpfs tmpfs /etc; touch /etc/hosts /etc/resolv.conf');
    const lease = await run(page, 'udhcpc -i eth0');
    if (!lease.includes('192.168.127.3')) throw new Error(`no lease of 192.168.127.3:\n${lease}`);
    const got = await run(page, `wget -q -O - http://192.168.127.254:${httpPort}/page.txt`);
    if (!got.includes(pageText)) throw new Error(`wget output lacks ${JSON.stringify(pageText)}:\n${got}`);

    // The share: the page writes into its MEMFS directory, the guest reads.
    const fromPage = `written by the page ${Date.now()}`;
    await page.evaluate((text) => window.Module.FS.writeFile(window.netvm.shareDir + '/from-page.txt', text + '\n'),
      fromPage);
    await run(page, 'mkdir -p /mnt && mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L');
    const hello = await run(page, 'cat /mnt/hello.txt');
    if (!hello.includes('hello from the page')) throw new Error(`guest read ${JSON.stringify(hello)} from the share`);
    const read = await run(page, 'cat /mnt/from-page.txt');
    if (!read.includes(fromPage)) throw new Error(`guest read ${JSON.stringify(read)} from the share`);
    await run(page, 'echo written by the guest > /mnt/from-guest.txt && sync');
    const back = await page.evaluate(() => window.Module.FS.readFile(window.netvm.shareDir + '/from-guest.txt',
      { encoding: 'utf8' }));
    if (back !== 'written by the guest\n') throw new Error(`page read ${JSON.stringify(back)} from the share`);
    console.log(`chromium-guest delegate: ok, ready line after ${bootMs} ms; lease, wget, 9p both ways`);
  });
}

async function offline(siteUrl, screenshot) {
  await runPageTest('chromium-guest offline', siteUrl, screenshot, async (page) => {
    const bootMs = await boot(page);
    const status = await page.evaluate(() => window.netvm.status);
    if (!status.includes('no network')) throw new Error(`status line: ${status}`);
    // The package's IndexedDB write (a fresh profile: the package was
    // downloaded) starts once the guest printed its ready line, not during
    // the boot, and commits.
    await page.waitForFunction(() => window.Module.preloadResults['pack.data'].cacheWrite !== 'pending', null,
      { timeout: COMMAND_TIMEOUT_MS });
    const cache = await page.evaluate(() => ({ events: window.netvm.events,
      write: window.Module.preloadResults['pack.data'].cacheWrite }));
    const guestReady = cache.events.find((e) => e.name === 'guest' && e.detail === 'ready');
    const writeStart = cache.events.find((e) => e.name === 'package' && e.detail === 'cache write');
    if (!guestReady || !writeStart || writeStart.ms < guestReady.ms || cache.write !== 'done') {
      throw new Error(`package cache write: ${cache.write}, events ${JSON.stringify(cache.events)}`);
    }
    const uname = await run(page, 'uname -a');
    if (!/Linux .*x86_64/.test(uname)) throw new Error(`uname -a: ${uname}`);
    // The emulator's progress reports (about one a second): kept apart from
    // the event log, numbered, the instruction count growing, at most 60.
    const progress = await page.evaluate(() => ({ reports: window.netvm.progress,
      inEvents: window.netvm.events.filter((e) => String(e.detail).startsWith('progress: ')).length }));
    const counts = progress.reports.map((r) => Number(/^instructions=(\d+) host-ns=\d+ idle-ns=\d+$/.exec(r.detail)?.[1]));
    if (progress.reports.length < 2 || progress.reports.length > 60 || progress.inEvents !== 0
        || counts.some((c, k) => !(c > 0) || (k > 0 && !(c > counts[k - 1])))
        || progress.reports.some((r, k) => k > 0 && r.seq !== progress.reports[k - 1].seq + 1)) {
      throw new Error(`progress reports: ${JSON.stringify(progress)}`);
    }
    // Only emergency messages on the console from here on: a kernel line
    // such as "random: crng init done" would land in the middle of a number.
    await run(page, 'echo 1 > /proc/sys/kernel/printk');
    // More output at once than the console keeps in flight to the page
    // (256 KiB): it reaches the terminal whole and in order. Captured at
    // the terminal's write(), as the scrollback holds only 5000 lines.
    await page.evaluate(() => {
      const term = window.netvm.term;
      const write = term.write.bind(term);
      const decoder = new TextDecoder();
      window.capturedOutput = [];
      term.write = (data, callback) => {
        window.capturedOutput.push(typeof data === 'string' ? data : decoder.decode(data, { stream: true }));
        return write(data, callback);
      };
    });
    const LINES = 60000;
    await run(page, `seq 1 ${LINES}`);
    const captured = await page.evaluate(() => window.capturedOutput.join(''));
    // The numbers in order, between the typed line and the marker.
    const lines = captured.substring(captured.indexOf('\r\n') + 2, captured.lastIndexOf('\r\nDONE-')).split('\r\n');
    let next = 1;
    for (const line of lines) {
      if (line !== String(next)) throw new Error(`seq 1 ${LINES}: line ${JSON.stringify(line)} where ${next} was due`);
      next++;
    }
    if (next !== LINES + 1) throw new Error(`seq 1 ${LINES}: the terminal got ${next - 1} of the numbers`);
    if (captured.length <= 256 * 1024) throw new Error('the check needs more output');
    await page.keyboard.type('poweroff');
    await page.keyboard.press('Enter');
    const deadline = Date.now() + 60000;
    let state;
    for (;;) {
      state = await page.evaluate(() => ({ stopped: window.netvm.stopped, exited: window.netvm.exited,
        status: window.netvm.status }));
      if (state.exited !== null || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (state.stopped !== 'powered off' || state.exited !== 0 || !/Machine stopped: powered off/.test(state.status)) {
      throw new Error(`after poweroff: ${JSON.stringify(state)}`);
    }
    console.log(`chromium-guest offline: ok, ready line after ${bootMs} ms; uname; seq ${LINES} whole; poweroff -> "${state.status}"`);
  });
}

async function browserNet(siteUrl, screenshot) {
  const url = `${siteUrl}?net=browser`;
  const probe = await fetch(new URL('netvm-browser-net.js', siteUrl));
  await runPageTest('chromium-guest browser-net', url, screenshot, async (page) => {
    if (probe.status === 404) {
      const deadline = Date.now() + 30000;
      let status = '';
      while (Date.now() < deadline && !/not available/.test(status)) {
        await new Promise((r) => setTimeout(r, 200));
        status = await page.evaluate(() => window.netvm.status);
      }
      if (!/^Error: .*browser.*not available/.test(status)) throw new Error(`status line: ${status}`);
      if (await page.evaluate(() => document.querySelector('script[src="netvm.js"], script[src="pack.js"]') !== null)) {
        throw new Error('the program was started without its network');
      }
      console.log(`chromium-guest browser-net: ok, no stack in this build: "${status}"`);
      return;
    }
    const bootMs = await boot(page);
    const status = await page.evaluate(() => window.netvm.status);
    if (!status.includes('in-browser')) throw new Error(`status line: ${status}`);
    const pem = await page.evaluate(() => window.Module.FS.readFile(window.netvm.shareDir + '/proxy.crt',
      { encoding: 'utf8' }));
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`proxy.crt: ${pem}`);
    await run(page, 'mkdir -p /mnt && mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L');
    const seen = await run(page, 'cat /mnt/proxy.crt');
    if (!seen.includes('BEGIN CERTIFICATE')) throw new Error(`guest read ${JSON.stringify(seen)}`);
    console.log(`chromium-guest browser-net: ok, ready line after ${bootMs} ms; proxy.crt in wasm0`);
  });
}

if (mode === 'delegate' && rest.length === 5) {
  delegate(...rest);
} else if (mode === 'offline' && rest.length === 2) {
  offline(...rest);
} else if (mode === 'browser-net' && rest.length === 2) {
  browserNet(...rest);
} else {
  console.error('usage: chromium-guest-test.js delegate SITE_URL WS_URL HTTP_PORT PAGE_TEXT SCREENSHOT.png\n' +
    '       chromium-guest-test.js offline SITE_URL SCREENSHOT.png\n' +
    '       chromium-guest-test.js browser-net SITE_URL SCREENSHOT.png');
  process.exit(2);
}
