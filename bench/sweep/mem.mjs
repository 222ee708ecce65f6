// One memory measurement of bench/sweep (run by sweep.mjs in a child process, under
// /usr/bin/time -v when available): a sweep streamed through takeRecords to a file.
//
//   node bench/sweep/mem.mjs --runs N [--threads T] [--chunk C] --out FILE [--via binding|api|cli]
//
// Prints one JSON line: runs, rows, bytes written, seconds, peak RSS (VmHWM) and heap at the end.
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBackend, root, tinySweep } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const runs = Number(opt('--runs', 1e5));
const threads = Number(opt('--threads', 0));
const chunk = Number(opt('--chunk', 2000));
const out = opt('--out', '/dev/null');
const via = opt('--via', 'binding');

const spec = { ...tinySweep({ seeds: 10000 }), runs: { start: 0, end: runs }, threads };
const status = () => {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`${k}:\\s*(\\d+)`)) || [])[1]);
  return { vmHWMkB: kb('VmHWM'), vmRSSkB: kb('VmRSS') };
};

const t0 = performance.now();
let rows = 0;
let bytes = 0;
const fd = openSync(out, 'w');
if (via === 'binding') {
  const b = await nativeBackend();
  const st = b.createStudy(JSON.stringify(spec), {});
  for (;;) {
    const s = JSON.parse(await st.advanceAsync(chunk));
    const text = st.takeRecords();
    if (text) {
      writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
      bytes += Buffer.byteLength(text);
      let n = 0;
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
      rows += text.endsWith('\n') ? n : n + 1;
    }
    if (s.finished) break;
  }
} else if (via === 'api') {
  const { sweep } = await import(join(root, 'packages/autobalance/dist/index.js'));
  const { runs: _r, threads: _t, ...plain } = spec;
  const h = sweep(plain, { backend: 'native', runs: { start: 0, end: runs }, threads: threads || undefined });
  for await (const row of h.rows) {
    const line = `${JSON.stringify(row)}\n`;
    writeSync(fd, line);
    bytes += line.length;
    rows++;
  }
}
closeSync(fd);
const seconds = (performance.now() - t0) / 1000;
const m = process.memoryUsage();
console.log(
  JSON.stringify({
    via,
    runs,
    rows,
    bytes: out === '/dev/null' ? bytes : statSync(out).size,
    seconds,
    ...status(),
    heapUsedMB: m.heapUsed / 2 ** 20,
    externalMB: m.external / 2 ** 20,
  }),
);
