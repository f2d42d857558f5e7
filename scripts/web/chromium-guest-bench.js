// Times the guest in the page (headless Chromium), as
// scripts/lib/native-guest-bench.py does natively.
//
//   node chromium-guest-bench.js SITE_URL JOB
//
// Prints `browser-marks` (the page's milestones, seconds since navigation),
// `browser-boot-s S` (from asking for the page to the guest's ready line in
// its terminal), `browser-boot-harness-s S` (the same as this script sees
// it: from opening a tab, polling the terminal) and `browser-cpu-s S` (the
// guest's busybox `time` real figure for JOB) and `browser-guest-mips N`.
//
// Guest MIPS, as native-guest-bench.py computes it: the emulator posts
// `machine` events `progress: instructions=N host-ns=T idle-ns=I` about once
// a second (T on its worker's clock, I the part of it spent waiting for a
// halted guest; a synchronous call to the page, so an event is in the page's
// log before the emulator runs on). The job is typed right after one
// arrives, and the first one to arrive after the job's end line shows
// closes the window: N = instructions between the two / the worker time
// between them that the guest was not halted, in millions per second.
//
// The boot's end is the page's own mark: the page notes when its terminal
// shows the ready line (the `guest: ready` event, on the page's clock,
// whose origin performance.timeOrigin is on the host's clock). Waiting for
// it polls that event only: reading the whole terminal every 100 ms, as
// the script did, took the page's main thread from the boot and added up
// to 100 ms of polling delay; opening a tab took 0.1-0.3 s more.
'use strict';
const { launch, openPage, waitForText, terminalText } = require('./page-driver');

const [url, job] = process.argv.slice(2);
if (!job) {
  console.error('usage: chromium-guest-bench.js SITE_URL JOB');
  process.exit(2);
}

// The emulator's latest progress report (the page keeps the last few in
// window.netvm.progress, numbered by seq), parsed; null before the first.
async function latestProgress(page) {
  const last = await page.evaluate(() => window.netvm.progress[window.netvm.progress.length - 1] || null);
  if (!last) return null;
  const m = /^instructions=(\d+) host-ns=(\d+) idle-ns=(\d+)$/.exec(last.detail);
  if (!m) throw new Error(`a progress report the bench does not understand: ${last.detail}`);
  return { seq: last.seq, instructions: Number(m[1]), hostNs: Number(m[2]), idleNs: Number(m[3]) };
}

// The first progress report that arrives from now on.
async function nextProgress(page) {
  const seen = await latestProgress(page);
  for (let waited = 0; waited < 30000; waited += 20) {
    const report = await latestProgress(page);
    if (report && (!seen || report.seq > seen.seq)) return report;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no progress report from the emulator in 30 s');
}

(async () => {
  const browser = await launch();
  let page = null;
  try {
    const start = Date.now();
    page = await openPage(browser, url);
    await page.waitForFunction(() => window.netvm.events.some((e) => e.name === 'guest' && e.detail === 'ready'),
      null, { timeout: 300000, polling: 100 });
    const harnessBoot = (Date.now() - start) / 1000;
    // The mark must be the ready line's: the terminal shows it.
    await waitForText(page, 'netvm-guest: ready', 1000);
    const readyAt = await page.evaluate(() => performance.timeOrigin +
      window.netvm.events.find((e) => e.name === 'guest' && e.detail === 'ready').ms);
    const boot = (readyAt - page.gotoAt) / 1000;
    // Where the page's part went: package downloaded, machine started (ms
    // since navigation, from the page's event log).
    const marks = await page.evaluate(() => window.netvm.events
      .filter((e) => e.ms !== undefined)
      .map((e) => `${e.name}:${e.detail}@${(e.ms / 1000).toFixed(3)}s`));
    await page.click('#terminal');
    const before = (await terminalText(page)).length;
    const first = await nextProgress(page);
    await page.keyboard.type(`time sh -c '${job}'; echo BENCH-$?-DONE`);
    await page.keyboard.press('Enter');
    await waitForText(page, /\nBENCH-\d+-DONE/, 600000);
    const text = (await terminalText(page)).substring(before);
    const m = text.match(/real\s+(\d+)m\s*([\d.]+)s[\s\S]*\nBENCH-(\d+)-DONE/);
    if (!m || m[3] !== '0') throw new Error(`the job failed:\n${text}`);
    const last = await nextProgress(page);
    const busyNs = (last.hostNs - first.hostNs) - (last.idleNs - first.idleNs);
    const mips = (last.instructions - first.instructions) / (busyNs / 1e9) / 1e6;
    console.log(`browser-marks ${marks.join(' ')}`);
    console.log(`browser-boot-harness-s ${harnessBoot.toFixed(3)}`);
    console.log(`browser-boot-s ${boot.toFixed(3)}`);
    console.log(`browser-cpu-s ${(Number(m[1]) * 60 + Number(m[2])).toFixed(3)}`);
    console.log(`browser-guest-mips ${mips.toFixed(1)}`);
  } catch (e) {
    if (page) console.error(page.consoleLines.join('\n'));
    console.error(`chromium-guest-bench: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
