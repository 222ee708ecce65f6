// Shared by the sweep benchmarks (bench/sweep/README.md): the sweep specs, the native backend,
// and the machine probes (CPU model, load, CPU time of other processes).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');

/** The native backend of the built package (packages/autobalance/dist + native addon). */
export async function nativeBackend() {
  const { loadBackend } = await import(join(root, 'packages/autobalance/dist/index.js'));
  return loadBackend('native');
}

/**
 * The scaling / overhead / peer sweep: matrix factorization d x d, rank r, GD with a constant
 * step, `steps` steps, metrics every `every` steps; 4 steps x 5 init scales = 20 settings,
 * `seeds` seeds each (init.seed only: the target M* is the same in every run).
 */
export function smallSweep({ d = 25, r = 3, steps = 900, every = 100, seeds = 500 } = {}) {
  return {
    kind: 'sweep',
    base: {
      model: { kind: 'matrixFactorization', d1: d, d2: d, rank: r },
      target: { kind: 'random', singularValues: Array.from({ length: r }, (_, i) => 1 + i / Math.max(1, r - 1)), seed: 1 },
      init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps,
      recordEvery: every,
    },
    axes: [
      { path: 'schedule.eta', values: [0.05, 0.1, 0.15, 0.2] },
      {
        zip: [
          { path: 'init.stdU', range: { from: 1e-3, to: 0.3, count: 5, scale: 'log' } },
          { path: 'init.stdV', range: { from: 1e-3, to: 0.3, count: 5, scale: 'log' } },
        ],
      },
    ],
    seeds: { count: seeds, base: 0, paths: ['init.seed'] },
    keep: [
      { name: 'final', column: 'residual', reduce: 'last' },
      { name: 'hit', column: 'residual', firstAtOrBelow: 1e-6 },
      { name: 'maxRatio', column: 'normRatio', reduce: 'max' },
      { name: 'inBounds', allRowsWhere: { of: 'normRatio', ge: 0.5, le: 2 } },
    ],
    classes: [
      { name: 'diverged', when: { stop: 'diverged' } },
      { name: 'converged', when: { all: [{ of: 'hit', le: steps }, { of: 'inBounds', ge: 1 }] } },
    ],
  };
}

/**
 * The memory sweep: very small runs (4 x 4, rank 1, 20 steps, metrics every 5), 10 x 10
 * settings x `seeds` seeds (10^4 seeds: 10^6 runs).
 */
export function tinySweep({ seeds = 10000 } = {}) {
  return {
    kind: 'sweep',
    base: {
      model: { kind: 'matrixFactorization', d1: 4, d2: 4, rank: 1 },
      target: { kind: 'random', singularValues: [1], seed: 1 },
      init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 20,
      recordEvery: 5,
    },
    axes: [
      { path: 'schedule.eta', range: { from: 0.05, to: 0.5, count: 10 } },
      { path: 'init.stdU', range: { from: 1e-2, to: 1, count: 10, scale: 'log' } },
    ],
    seeds: { count: seeds, base: 0, paths: ['init.seed'] },
    keep: [
      { name: 'final', column: 'residual', reduce: 'last' },
      { name: 'hit', column: 'residual', firstAtOrBelow: 1e-3 },
      { name: 'maxRatio', column: 'normRatio', reduce: 'max' },
    ],
    classes: [
      { name: 'diverged', when: { stop: 'diverged' } },
      { name: 'hit', when: { of: 'hit', le: 20 } },
    ],
  };
}

/** CPU model, core count, flags of interest, memory, kernel, versions. */
export function machine() {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8');
  const get = (k) => (cpu.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm')) || [])[1] || '?';
  const flags = get('flags').split(' ');
  const simd = ['avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f)).join(' ');
  const mem = readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s*(\d+)/);
  const cores = (cpu.match(/^processor\s*:/gm) || []).length;
  return {
    cpu: `${get('model name')} (family ${get('cpu family')} model ${get('model')})`,
    cores,
    simd,
    memGiB: mem ? +(Number(mem[1]) / 1048576).toFixed(1) : null,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
  };
}

export function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** Total busy CPU seconds of the machine (all processes), from /proc/stat. */
function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0] + f[1] + f[2] + f[5] + f[6];
  return busy / 100; // USER_HZ = 100
}

/** CPU seconds of this process's waited-for children (cutime + cstime of /proc/self/stat). */
function childrenCpu() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(')').pop().trim().split(/\s+/);
  return (Number(f[13]) + Number(f[14])) / 100;
}

/**
 * Start a probe; calling it returns the wall seconds since, the cores this process kept busy
 * (ownCores; childCores: its finished children, e.g. spawnSync'd Python) and the cores the rest
 * of the machine kept busy (otherCores).
 */
export function cpuProbe() {
  const m0 = machineBusy();
  const c0 = process.cpuUsage();
  const k0 = childrenCpu();
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const own = (c.user + c.system) / 1e6;
    const kids = childrenCpu() - k0;
    const others = Math.max(0, (machineBusy() - m0 - own - kids) / wall);
    return { wall, ownCores: own / wall, childCores: kids / wall, otherCores: others };
  };
}

export const fmt = (x, d = 3) => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(d));

/**
 * Wait up to `seconds` for a quiet machine: other processes keeping < `limit` cores busy over a
 * 2-second window. Returns the last window's reading.
 */
export async function waitIdle(seconds, limit = 0.3) {
  const t0 = performance.now();
  let busy = Infinity;
  while (true) {
    const p = cpuProbe();
    await new Promise((r) => setTimeout(r, 2000));
    busy = p().otherCores;
    if (busy < limit || (performance.now() - t0) / 1000 >= seconds) return busy;
  }
}
