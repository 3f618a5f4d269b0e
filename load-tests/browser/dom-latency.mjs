// From a probe event's acknowledgement to its effect in the wallboard page's DOM, measured in
// the browser: runs `e2e-bench --dom-probes DIR` (the whole pipeline through the real broker
// and ClickHouse at --rate events/s, the wallboard over that ClickHouse), signs in as --tenant
// (default tenant-1: the simulator's floor; tenant-0 also carries e2e-bench's 600 probe queues)
// in Debian's chromium (driven by playwright-core), records in the page every change of queue
// `dom-probe`'s waiting count with the page's clock, and matches the k-th acknowledged probe
// with the first time the count reached k. Prints e2e-bench's table, the DOM percentiles and
// the page's own time (script, layout, style) during the run.
//
//   node load-tests/browser/dom-latency.mjs [--rate 20000] [--seconds 60] [--tenant tenant-1]
//     [-- more e2e-bench arguments]
//
// E2E_BENCH: the bench binary (default target/release/e2e-bench); CHROMIUM: /usr/bin/chromium.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The browser tests' pinned playwright-core (scripts/test-browser installs it).
const require = createRequire(join(ROOT, 'tests', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const rate = arg('--rate', '20000');
const seconds = arg('--seconds', '60');
const tenant = arg('--tenant', 'tenant-1');
const bench = process.env.E2E_BENCH || join(ROOT, 'target', 'release', 'e2e-bench');
const dir = mkdtempSync(join(tmpdir(), 'ccx-dom-'));

const more = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
const child = spawn(bench, ['--rate', rate, '--seconds', seconds, '--dom-probes', dir, '--dom-tenant', tenant, ...more], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
const exited = new Promise(resolve => child.on('exit', resolve));
const base = await new Promise((resolve, reject) => {
  child.stdout.on('data', chunk => {
    out += chunk;
    const m = out.match(/wallboard on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  child.on('exit', code => reject(new Error(`e2e-bench exited (${code}):\n${out}`)));
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
const page = await browser.newPage();
await page.goto(base + '/');
await page.fill('#tenant', tenant);
await page.fill('#user', 'bench');
await page.fill('#token', 'dev-token-' + tenant);
await page.click('button[type=submit]');
await page.waitForSelector('#queues');
// Every change of the probe queue's waiting count, stamped when the page changed.
await page.evaluate(() => {
  window.__seen = [];
  let last = 0;
  const read = () => {
    const v = document.querySelector('.tile[data-queue="dom-probe"] [data-field="waiting"]');
    const n = v ? Number(v.textContent) : 0;
    if (n !== last) { last = n; window.__seen.push([Date.now(), n]); }
  };
  new MutationObserver(read).observe(document.body, { childList: true, characterData: true, subtree: true });
});
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics
  .map(m => [m.name, m.value]));
const before = await metrics();
writeFileSync(join(dir, 'ready'), '');

const code = await exited;
const after = await metrics();
const seen = await page.evaluate(() => window.__seen);
await browser.close();
if (code !== 0) throw new Error(`e2e-bench failed (${code})`);
const acks = JSON.parse(readFileSync(join(dir, 'acks.json'), 'utf8'));

// The k-th probe (1-based) is on the page once the count first reached k.
const latencies = acks.map((ack, i) => {
  const hit = seen.find(([, n]) => n >= i + 1);
  return hit ? hit[0] - ack : null;
});
const shown = latencies.filter(l => l !== null).sort((a, b) => a - b);
const pct = p => shown[Math.floor((shown.length - 1) * p)];
process.stdout.write(out);
console.log(`| probes shown in the page's DOM / sent | ${shown.length} / ${acks.length} |`);
console.log(`| ack -> DOM p50 / p99 / max | ${pct(0.5)} / ${pct(0.99)} / ${shown[shown.length - 1]} ms |`);
const spent = name => (after[name] - before[name]).toFixed(1);
console.log(`| page (${tenant}): script / layout / style / all tasks | ${spent('ScriptDuration')} / ` +
  `${spent('LayoutDuration')} / ${spent('RecalcStyleDuration')} / ${spent('TaskDuration')} s |`);
