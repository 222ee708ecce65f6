// A sweep as a Slurm job array, for real: a single-node cluster from Debian's slurm-wlm + munge
// (scripts/slurm/setup.sh installs them when missing, scripts/slurm/cluster.sh runs it under a
// temporary directory on 127.0.0.1, stopped by PID), `sweep submit --slurm --submit`, one array
// element cancelled while it runs, `sweep missing` finds its shard, `submit --missing` reruns it,
// and the merged rows equal a local run of the same sweep, row for row. Skipped (with a message)
// when the packages cannot be installed or the suite does not run as root; the native backend
// only (the shards run the CLI on the backend of this pass, which the wasm pass would repeat).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BACKEND } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'packages/autobalance/dist/cli.js');
const CLUSTER = join(ROOT, 'scripts/slurm/cluster.sh');

/** Why the test cannot run here, or null (installs the packages when missing). */
function unavailable(): string | null {
  if (BACKEND !== 'native') return 'the Slurm test runs on the native backend pass only';
  if (process.platform !== 'linux') return 'Slurm test: Linux only';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'Slurm test: needs root (slurmd, munged as the munge user)';
  try {
    execFileSync('bash', [join(ROOT, 'scripts/slurm/setup.sh')], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    return `Slurm test: slurm-wlm and munge cannot be installed (${`${err.stderr ?? ''}${err.stdout ?? ''}`.trim().split('\n').pop() ?? 'apt-get failed'})`;
  }
  return null;
}

const why = unavailable();
if (why) {
  console.warn(`SKIPPED: ${why}`);
  it.skip(`sweep as a Slurm job array: ${why}`, () => undefined);
}

const tmp = mkdtempSync(join(tmpdir(), 'autobalance-slurm-'));
chmodSync(tmp, 0o755); // munged runs as the user munge: it must reach the cluster's directory
const cluster = join(tmp, 'cluster');
let started = false;
let env: NodeJS.ProcessEnv = {};

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}
function cli(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `cond` holds (polled every 50 ms), at most `ms`. */
async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Jobs of `ids` still in the queue (pending or running). */
function queued(ids: string[]): string[] {
  const out = sh('squeue', ['-h', '-r', '-o', '%i %T']).trim();
  return out === '' ? [] : out.split('\n').filter((l) => ids.some((id) => l.startsWith(`${id}_`) || l.startsWith(`${id} `)));
}

/** The JobState of job `id` (kept by slurmctld for MinJobAge after it ends). */
function jobState(id: string): string {
  return /JobState=(\S+)/.exec(sh('scontrol', ['show', 'job', id]))?.[1] ?? '?';
}

/** A sweep of 12 runs of matrix factorization (about 0.6 s each on the reference machine): 4 shards of 3, about 2 s each on one core. */
const SPEC = {
  kind: 'sweep',
  base: {
    model: { kind: 'matrixFactorization', d1: 60, d2: 50, rank: 5 },
    target: { kind: 'random', singularValues: [5, 4, 3, 2, 1], seed: 1 },
    init: { kind: 'gaussian', stdU: 0.05, stdV: 0.05, seed: 2 },
    schedule: { kind: 'constant', eta: 0.02 },
    steps: 100_000,
    recordEvery: 100,
  },
  axes: [{ path: 'schedule.eta', values: [0.01, 0.02] }],
  seeds: { count: 6, base: 11 },
  keep: [
    { name: 'finalResidual', column: 'residual', reduce: 'last' },
    { name: 'hit', column: 'residual', firstAtOrBelow: 1e-4 },
  ],
  classes: [{ name: 'converged', when: { of: 'hit', ge: 0 } }],
};
const SHARDS = 4;

describe.skipIf(why !== null)('sweep as a Slurm job array (single-node cluster)', () => {
  beforeAll(() => {
    const file = execFileSync('bash', [CLUSTER, 'start', cluster], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30_000 }).trim();
    started = true;
    const conf = /SLURM_CONF=(\S+)/.exec(readFileSync(file, 'utf8'))?.[1];
    expect(conf).toBeDefined();
    env = { ...process.env, SLURM_CONF: conf!, AUTOBALANCE_BACKEND: 'native' };
    for (const k of Object.keys(env)) if (k.startsWith('SLURM_') && k !== 'SLURM_CONF') delete env[k];
  }, 60_000);

  afterAll(() => {
    // Whatever happened: cancel the jobs, stop the daemons by PID, remove the directory.
    try {
      if (started || existsSync(join(cluster, 'slurm.conf'))) {
        execFileSync('bash', [CLUSTER, 'stop', cluster], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 30_000 });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('runs the array, survives a cancelled element (missing finds it, --missing reruns it), and the merge equals a local run', async () => {
    const t0 = Date.now();
    const specPath = join(tmp, 'sweep.json');
    writeFileSync(specPath, JSON.stringify(SPEC));
    const dir = join(tmp, 'out');

    const sub = await cli(['sweep', 'submit', '--slurm', '--spec', specPath, '--out', dir, '--shards', String(SHARDS), '--cpus-per-task', '1', '--submit']);
    expect(sub.code, sub.stderr).toBe(0);
    const first = JSON.parse(sub.stdout) as { arrayJob: string; array: string; mergeJob: string };
    expect(first.array).toBe(`0-${SHARDS - 1}`);
    expect(readFileSync(join(dir, 'slurm', 'array.sbatch'), 'utf8')).toContain(`--shards ${SHARDS}`);

    // Cancel element 1 once it computes (its temporary shard file is there).
    const victim = `${first.arrayJob}_1`;
    await until(
      'element 1 to start writing its shard',
      () => existsSync(join(dir, 'shards')) && readdirSync(join(dir, 'shards')).some((f) => /^\.runs-3-6\.jsonl\.\d+\.tmp$/.test(f)),
      20_000,
    );
    expect(queued([first.arrayJob]).find((l) => l.startsWith(`${victim} `))).toMatch(/RUNNING/);
    sh('scancel', [victim]);
    const tCancel = Date.now() - t0;

    await until('the array and the merge to finish', () => queued([first.arrayJob, first.mergeJob]).length === 0, 40_000);
    expect(jobState(victim)).toBe('CANCELLED');
    for (const k of [0, 2, 3]) expect(jobState(`${first.arrayJob}_${k}`)).toBe('COMPLETED');
    // The merge ran (afterany) and refused the incomplete directory, naming the missing runs.
    expect(jobState(first.mergeJob)).toBe('FAILED');
    const mergeLog = readFileSync(join(dir, 'slurm', 'logs', `merge-${first.mergeJob}.out`), 'utf8');
    expect(mergeLog).toMatch(/incomplete: [12] of 12 runs missing: \[[45], 6\)/);
    expect(existsSync(join(dir, 'runs.jsonl'))).toBe(false);
    // SIGTERM (scancel) stopped the element cleanly: its finished runs are kept in a file.
    const kept = readdirSync(join(dir, 'shards')).filter((f) => f.startsWith('runs-3-'));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^runs-3-[45]\.jsonl$/);
    expect(readFileSync(join(dir, 'slurm', 'logs', `shard-1-${first.arrayJob}.out`), 'utf8')).toMatch(/interrupted \(SIGTERM\)/);

    const missing = await cli(['sweep', 'missing', '--out', dir, '--shards', String(SHARDS)]);
    expect(missing.code, missing.stderr).toBe(0);
    expect(missing.stdout).toBe('1\n');

    const again = await cli(['sweep', 'submit', '--slurm', '--out', dir, '--shards', String(SHARDS), '--cpus-per-task', '1', '--submit', '--missing']);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as { arrayJob: string; array: string; mergeJob: string };
    expect(second.array).toBe('1');
    await until('the resubmitted shard and the merge to finish', () => queued([second.arrayJob, second.mergeJob]).length === 0, 40_000);
    expect(jobState(`${second.arrayJob}_1`)).toBe('COMPLETED');
    expect(jobState(second.mergeJob)).toBe('COMPLETED');
    const tSlurm = Date.now() - t0;

    // The same sweep, locally, in one process: the same rows, byte for byte.
    const local = join(tmp, 'local');
    const run = await cli(['sweep', 'run', '--spec', specPath, '--out', local, '--no-merge']);
    expect(run.code, run.stderr).toBe(0);
    expect((await cli(['sweep', 'merge', '--out', local, '--no-report'])).code).toBe(0);
    const merged = readFileSync(join(dir, 'runs.jsonl'), 'utf8');
    expect(merged.split('\n').filter(Boolean)).toHaveLength(12);
    expect(merged).toBe(readFileSync(join(local, 'runs.jsonl'), 'utf8'));
    const table = JSON.parse(readFileSync(join(dir, 'table.json'), 'utf8')) as { complete: boolean; settings: unknown[] };
    expect(table.complete).toBe(true);
    expect(table.settings).toHaveLength(2);
    process.stdout.write(`slurm: cancel at ${(tCancel / 1000).toFixed(1)} s, array + fault + resubmission + merge ${(tSlurm / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, 120_000);
});
