// `autobalance sweep run|missing|merge|status|submit` (the built CLI, as a child process, on the
// backend of this pass): shards and blocks on disk, resume, merge checks, bad arguments, Ctrl-C.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { BACKEND } from './helpers.js';

const CLI = fileURLToPath(new URL('../packages/autobalance/dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'autobalance-sweep-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { env?: Record<string, string | undefined>; onSpawn?: (kill: (sig: NodeJS.Signals) => void) => void; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, AUTOBALANCE_BACKEND: BACKEND, ...options.env };
    // Never inherit a Slurm job's array variables (the suite may itself run inside a job).
    for (const k of Object.keys(env)) if (k.startsWith('SLURM_') && !(options.env && k in options.env)) delete env[k];
    const child = spawn(process.execPath, [CLI, ...args], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    options.onSpawn?.((sig) => child.kill(sig));
  });
}

/** A small sweep of matrix factorization runs: 3 step sizes x `seeds` random initializations. */
function sweepSpec(seeds = 4, steps = 200): Record<string, unknown> {
  return {
    kind: 'sweep',
    base: {
      model: { kind: 'matrixFactorization', d1: 6, d2: 5, rank: 2 },
      target: { kind: 'random', singularValues: [2, 1], seed: 1 },
      init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
      schedule: { kind: 'constant', eta: 0.05 },
      steps,
      recordEvery: 10,
    },
    axes: [{ path: 'schedule.eta', values: [0.02, 0.05, 0.1] }],
    seeds: { count: seeds, base: 7 },
    keep: [
      { name: 'finalResidual', column: 'residual', reduce: 'last' },
      { name: 'hit', column: 'residual', firstAtOrBelow: 1e-3 },
    ],
    classes: [{ name: 'converged', when: { of: 'hit', ge: 0 } }],
  };
}

let n = 0;
function specFile(spec: Record<string, unknown>): string {
  const p = join(tmp, `spec-${n++}.json`);
  writeFileSync(p, JSON.stringify(spec));
  return p;
}
function freshDir(): string {
  return join(tmp, `dir-${n++}`);
}
const shardFiles = (dir: string): string[] =>
  readdirSync(join(dir, 'shards'))
    .filter((f) => /^runs-\d+-\d+\.jsonl$/.test(f))
    .sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

const SPEC = specFile(sweepSpec());
const RUNS = 12;
// The reference: the whole sweep run locally in one go.
let reference: string[] | null = null;
async function referenceRows(): Promise<string[]> {
  if (reference) return reference;
  const dir = freshDir();
  const r = await cli(['sweep', 'run', '--spec', SPEC, '--out', dir]);
  expect(r.code, r.stderr).toBe(0);
  reference = lines(join(dir, 'runs.jsonl'));
  return reference;
}

describe(`sweep CLI on ${BACKEND}`, () => {
  it('runs a sweep locally in blocks and merges it: runs.jsonl (every run once, in order), table.json, table.csv', async () => {
    const dir = freshDir();
    const r = await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--block', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/runs \[0, 12\) of 12 \(3 settings x 4 seeds\), 12 to run, 0 already/);
    expect(shardFiles(dir)).toEqual(['runs-0-5.jsonl', 'runs-5-10.jsonl', 'runs-10-12.jsonl']);
    const rows = lines(join(dir, 'runs.jsonl')).map((l) => JSON.parse(l) as { run: number; setting: number; seedIndex: number; specHash: string; stop: string });
    expect(rows.map((x) => x.run)).toEqual([...Array(RUNS).keys()]);
    expect(rows.map((x) => x.setting)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(rows.every((x) => /^[0-9a-f]{16}$/.test(x.specHash))).toBe(true);
    const table = JSON.parse(readFileSync(join(dir, 'table.json'), 'utf8')) as { plan: { runs: number; hash: string }; settings: { setting: number; runs: number }[]; complete: boolean };
    expect(table.complete).toBe(true);
    expect(table.plan.runs).toBe(RUNS);
    expect(table.settings.map((s) => [s.setting, s.runs])).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
    ]);
    expect(readFileSync(join(dir, 'table.csv'), 'utf8').split('\n').filter(Boolean)).toHaveLength(4);
    const saved = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as { hash: string };
    expect(saved.hash).toBe(table.plan.hash);
    // The same rows as a run in one block (the reference) and as shards.
    expect(lines(join(dir, 'runs.jsonl'))).toEqual(await referenceRows());
  });

  it('shards: shard K of N covers [floor(K R/N), floor((K+1) R/N)); missing lists the rest; merged shards equal the local run', async () => {
    const dir = freshDir();
    const r1 = await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', '1', '--shards', '5']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(shardFiles(dir)).toEqual(['runs-2-4.jsonl']);
    expect(existsSync(join(dir, 'runs.jsonl'))).toBe(false); // a shard does not merge
    const m = await cli(['sweep', 'missing', '--out', dir]);
    expect(m.code).toBe(0);
    expect(m.stdout).toBe('0 2\n4 12\n');
    const ms = await cli(['sweep', 'missing', '--out', dir, '--shards', '5']);
    expect(ms.stdout).toBe('0,2-4\n');
    const mj = JSON.parse((await cli(['sweep', 'missing', '--out', dir, '--shards', '5', '--json'])).stdout) as Record<string, unknown>;
    expect(mj).toMatchObject({ runs: RUNS, done: 2, missing: [{ start: 0, end: 2 }, { start: 4, end: 12 }], missingShards: [0, 2, 3, 4], array: '0,2-4' });
    // The shard index from Slurm's array variables.
    const env = (k: number): Record<string, string> => ({ SLURM_ARRAY_TASK_ID: String(k), SLURM_ARRAY_TASK_COUNT: '5', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '4' });
    for (const k of [0, 2, 3, 4]) {
      const r = await cli(['sweep', 'run', '--spec', SPEC, '--out', dir], { env: env(k) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`shard ${k} of 5`);
    }
    const done = await cli(['sweep', 'missing', '--out', dir, '--shards', '5']);
    expect(done.stdout).toBe('\n');
    expect(done.stderr).toMatch(/complete/);
    const mg = await cli(['sweep', 'merge', '--out', dir]);
    expect(mg.code, mg.stderr).toBe(0);
    expect(lines(join(dir, 'runs.jsonl'))).toEqual(await referenceRows());
  });

  it('resume: a rerun computes only the shard files that are missing', async () => {
    const dir = freshDir();
    expect((await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--block', '4', '--no-merge'])).code).toBe(0);
    const files = shardFiles(dir);
    expect(files).toEqual(['runs-0-4.jsonl', 'runs-4-8.jsonl', 'runs-8-12.jsonl']);
    const mtimes = files.map((f) => statSync(join(dir, 'shards', f)).mtimeMs);
    unlinkSync(join(dir, 'shards', 'runs-4-8.jsonl'));
    const r = await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--block', '4']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/4 to run, 8 already/);
    expect(r.stderr).toMatch(/sweep: 4 runs in/);
    expect(shardFiles(dir)).toEqual(files);
    // The other files were not rewritten.
    expect(statSync(join(dir, 'shards', 'runs-0-4.jsonl')).mtimeMs).toBe(mtimes[0]);
    expect(statSync(join(dir, 'shards', 'runs-8-12.jsonl')).mtimeMs).toBe(mtimes[2]);
    expect(lines(join(dir, 'runs.jsonl'))).toEqual(await referenceRows());
    // Everything there: a rerun computes nothing (and merges again).
    const again = await cli(['sweep', 'run', '--out', dir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 to run, 12 already/);
  });

  it('merge: fails naming the missing runs; de-duplicates overlapping shards of another N; refuses conflicting rows', async () => {
    const dir = freshDir();
    for (const k of [0, 2]) expect((await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', String(k), '--shards', '3'])).code).toBe(0);
    const inc = await cli(['sweep', 'merge', '--out', dir]);
    expect(inc.code).toBe(1);
    expect(inc.stderr).toMatch(/incomplete: 4 of 12 runs missing: \[4, 8\) \(4 runs\)/);
    expect(existsSync(join(dir, 'runs.jsonl'))).toBe(false);
    // Shards of another N (run elsewhere, copied in) overlap the existing ones: every run once.
    const elsewhere = freshDir();
    for (const k of [0, 1]) expect((await cli(['sweep', 'run', '--spec', SPEC, '--out', elsewhere, '--shard', String(k), '--shards', '2'])).code).toBe(0);
    for (const f of shardFiles(elsewhere)) copyFileSync(join(elsewhere, 'shards', f), join(dir, 'shards', f));
    expect(shardFiles(dir)).toEqual(['runs-0-4.jsonl', 'runs-0-6.jsonl', 'runs-6-12.jsonl', 'runs-8-12.jsonl']);
    const ok = await cli(['sweep', 'merge', '--out', dir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/12 runs from 4 file\(s\) \(8 duplicate rows dropped\)/);
    expect(lines(join(dir, 'runs.jsonl'))).toEqual(await referenceRows());
    // A duplicate that differs is an error naming the run, both files and the field.
    const path = join(dir, 'shards', 'runs-8-12.jsonl');
    const original = lines(path);
    const rows = [...original];
    const row = JSON.parse(rows[1]!) as Record<string, unknown>;
    row['steps'] = 12345;
    rows[1] = JSON.stringify(row);
    writeFileSync(path, rows.join('\n') + '\n');
    const bad = await cli(['sweep', 'merge', '--out', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/run 9 differs between .*runs-6-12\.jsonl and .*runs-8-12\.jsonl \(steps: \d+ vs 12345\)/);
    // A file whose rows do not match its name is named too.
    writeFileSync(path, original.slice(0, 2).join('\n') + '\n');
    const short = await cli(['sweep', 'merge', '--out', dir]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/runs-8-12\.jsonl: ends after 2 line\(s\), expected run 10/);
  });

  it('merge streams: 300,000 rows (about 100 MB of shards) merge within a 48 MB JavaScript heap (loading them all needs more)', async () => {
    const SEEDS = 1000;
    const SETTINGS = 300;
    const R = SEEDS * SETTINGS;
    const spec = specFile({
      ...sweepSpec(),
      axes: [{ path: 'schedule.eta', range: { from: 0.01, to: 0.1, count: SETTINGS } }],
      seeds: { count: SEEDS },
    });
    const dir = freshDir();
    // sweep.json (with the hash) without running anything: write the Slurm scripts only.
    expect((await cli(['sweep', 'submit', '--slurm', '--spec', spec, '--out', dir, '--shards', '3'])).code).toBe(0);
    // Rows in the shape of real ones (the merge does not recompute them).
    let bytes = 0;
    for (let k = 0; k < 3; k++) {
      const a = (k * R) / 3;
      const b = ((k + 1) * R) / 3;
      const out: string[] = [];
      for (let run = a; run < b; run++) {
        const setting = Math.floor(run / SEEDS);
        out.push(
          JSON.stringify({
            run,
            setting,
            seedIndex: run % SEEDS,
            values: { 'schedule.eta': 0.01 + (0.09 * setting) / (SETTINGS - 1) },
            seeds: { 'init.seed': (run * 7919) % 9007199254740991, 'target.seed': run * 31 },
            specHash: (run * 2654435761).toString(16).padStart(16, '0').slice(-16),
            stop: 'finished',
            steps: 200,
            loss: 1 / (run + 1),
            reason: null,
            kept: { finalResidual: 1e-3 / (1 + (run % 97)), hit: run % 3 === 0 ? null : 100 + (run % 50) },
            class: run % 3 === 0 ? 'other' : 'converged',
          }),
        );
      }
      const text = out.join('\n') + '\n';
      bytes += text.length;
      writeFileSync(join(dir, 'shards', `runs-${a}-${b}.jsonl`), text);
    }
    expect(bytes).toBeGreaterThan(90e6);
    const t0 = Date.now();
    const child = await new Promise<Outcome>((resolve, reject) => {
      const c = spawn(process.execPath, ['--max-old-space-size=48', CLI, 'sweep', 'merge', '--out', dir, '--no-report'], {
        env: { ...process.env, AUTOBALANCE_BACKEND: BACKEND },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(child.code, child.stderr).toBe(0);
    expect(child.stderr).toMatch(/merge: 300000 runs from 3 file\(s\), 300 settings/);
    expect(statSync(join(dir, 'runs.jsonl')).size).toBe(bytes);
    const table = JSON.parse(readFileSync(join(dir, 'table.json'), 'utf8')) as { settings: { runs: number; classes: Record<string, { count: number }> }[] };
    expect(table.settings).toHaveLength(SETTINGS);
    expect(table.settings.every((s) => s.runs === SEEDS)).toBe(true);
    console.log(`merge of ${R} rows (${(bytes / 1e6).toFixed(0)} MB) in a 48 MB heap: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 60_000);

  it('status: runs done, files, what is missing', async () => {
    const dir = freshDir();
    expect((await cli(['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', '0', '--shards', '4'])).code).toBe(0);
    const s = await cli(['sweep', 'status', '--out', dir]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/runs: +3\/12 done \(25%\), 3 settings x 4 seeds/);
    expect(s.stdout).toMatch(/files: +1 in/);
    expect(s.stdout).toMatch(/missing: +\[3, 12\) \(9 runs\)/);
    expect(s.stdout).toMatch(/merged: +no/);
    const j = JSON.parse((await cli(['sweep', 'status', '--out', dir, '--json'])).stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ runs: 12, done: 3, settings: 3, seedsPerSetting: 4, merged: false, files: [{ name: 'runs-0-3.jsonl', start: 0, end: 3 }] });
  });

  it('bad arguments and directories give clear errors (exit 2 for usage, 1 for files)', async () => {
    const dir = freshDir();
    const cases: [string[], number, RegExp, Record<string, string>?][] = [
      [['sweep'], 2, /error: sweep: missing: expected a subcommand: run, missing, status, merge or submit/],
      [['sweep', 'frobnicate'], 2, /unknown subcommand "frobnicate"/],
      [['sweep', 'run', '--spec', SPEC], 2, /error: --out: missing/],
      [['sweep', 'run', '--out', dir], 2, /error: --spec: missing/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', '1'], 2, /error: --shards: missing: --shard needs --shards/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shards', '3'], 2, /error: --shard: missing/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', '3', '--shards', '3'], 2, /shard 3 does not exist: shards are numbered 0 to 2/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', 'x', '--shards', '3'], 2, /--shard: expected an integer >= 0, got "x"/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shards', '0', '--shard', '0'], 2, /--shards: expected an integer >= 1/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--shard', '0', '--shards', '2', '--block', '3'], 2, /--block: a shard is written as one file/],
      [['sweep', 'run', '--spec', SPEC, '--out', dir, '--frob'], 2, /Unknown option '--frob'/],
      [['sweep', 'run', '--spec', join(tmp, 'nope.json'), '--out', dir], 1, /error: --spec: cannot read/],
      // A resubmission of some elements: the array's count is not the number of shards.
      [['sweep', 'run', '--spec', SPEC, '--out', dir], 2, /SLURM_ARRAY_TASK_COUNT \(2\) is not its number of shards .*pass --shards N/, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_MAX: '7' }],
      [['sweep', 'merge', '--out', join(tmp, 'empty')], 1, /holds no sweep \(no sweep\.json\)/],
      [['sweep', 'missing', '--out', join(tmp, 'empty')], 1, /holds no sweep/],
      [['sweep', 'submit', '--spec', SPEC, '--out', dir, '--shards', '2'], 2, /--slurm: missing/],
      [['sweep', 'submit', '--slurm', '--spec', SPEC, '--out', dir], 2, /--shards: missing/],
      [['sweep', 'submit', '--slurm', '--spec', SPEC, '--out', dir, '--shards', '2', '--missing'], 2, /--missing: .*needs --submit/],
    ];
    for (const [args, code, re, env] of cases) {
      const r = await cli(args, env ? { env } : {});
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.code, args.join(' ')).toBe(code);
    }
    // An invalid sweep spec: the core's error, with its path.
    const bad = await cli(['sweep', 'run', '--spec', specFile({ ...sweepSpec(), axes: [{ path: 'schedule.eta', values: [] }] }), '--out', freshDir()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: axes\[0\]/m);
    // Another sweep's directory is refused (its sweep.json has another hash).
    const d2 = freshDir();
    expect((await cli(['sweep', 'run', '--spec', SPEC, '--out', d2, '--shard', '0', '--shards', '6'])).code).toBe(0);
    const other = await cli(['sweep', 'run', '--spec', specFile(sweepSpec(5)), '--out', d2]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/belongs to another sweep \(hash [0-9a-f]{16} in .*sweep\.json, this spec has [0-9a-f]{16}\)/);
  });

  it('submit --slurm writes the array and merge scripts (absolute paths, --shards explicit)', async () => {
    const dir = freshDir();
    const r = await cli(['sweep', 'submit', '--slurm', '--spec', SPEC, '--out', dir, '--shards', '4', '--partition', 'short', '--time', '00:10:00', '--cpus-per-task', '2', '--mem', '1G', '--sbatch-arg=--account=abc', '--sbatch-arg=--qos=low']);
    expect(r.code, r.stderr).toBe(0);
    const array = readFileSync(join(dir, 'slurm', 'array.sbatch'), 'utf8');
    expect(array).toMatch(/^#SBATCH --array=0-3$/m);
    for (const l of ['--partition=short', '--time=00:10:00', '--cpus-per-task=2', '--mem=1G', '--account=abc', '--qos=low']) expect(array).toContain(`#SBATCH ${l}\n`);
    expect(array).toContain(`exec ${process.execPath} ${CLI} sweep run --spec ${join(dir, 'sweep.json')} --out ${dir} --shards 4\n`);
    const merge = readFileSync(join(dir, 'slurm', 'merge.sbatch'), 'utf8');
    expect(merge).toContain(`exec ${process.execPath} ${CLI} sweep merge --out ${dir}\n`);
    expect(r.stdout).toMatch(/sbatch --dependency=afterany:\$job /);
    // With --submit (sbatch replaced by a script that records its arguments): the array, then the
    // merge after it; --missing submits only the shards with missing runs.
    const fake = join(tmp, 'fake-sbatch.sh');
    const log = join(tmp, 'sbatch.log');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> ${log}\nwc -l < ${log} | tr -d ' '\n`, { mode: 0o755 });
    const s = await cli(['sweep', 'submit', '--slurm', '--out', dir, '--shards', '4', '--submit'], { env: { AUTOBALANCE_SBATCH: fake } });
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toEqual({ arrayJob: '1', array: '0-3', mergeJob: '2' });
    expect((await cli(['sweep', 'run', '--out', dir, '--shard', '2', '--shards', '4'])).code).toBe(0);
    const m = await cli(['sweep', 'submit', '--slurm', '--out', dir, '--shards', '4', '--submit', '--missing'], { env: { AUTOBALANCE_SBATCH: fake } });
    expect(m.code, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout)).toEqual({ arrayJob: '3', array: '0-1,3', mergeJob: '4' });
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual([
      `--parsable ${join(dir, 'slurm', 'array.sbatch')}`,
      `--parsable --dependency=afterany:1 ${join(dir, 'slurm', 'merge.sbatch')}`,
      `--parsable --array=0-1,3 ${join(dir, 'slurm', 'array.sbatch')}`,
      `--parsable --dependency=afterany:3 ${join(dir, 'slurm', 'merge.sbatch')}`,
    ]);
  });

  it('Ctrl-C (SIGINT) mid-run stops cleanly, keeps every finished run; a rerun resumes and the merge equals the local run', async () => {
    const spec = specFile(sweepSpec(40, 4000));
    const dir = freshDir();
    let sent = false;
    const r = await cli(['sweep', 'run', '--spec', spec, '--out', dir, '--block', '5'], {
      onSpawn: (kill) => {
        const poll = setInterval(() => {
          // Once the first block is written, interrupt.
          if (existsSync(join(dir, 'shards')) && shardFiles(dir).length > 0) {
            clearInterval(poll);
            sent = true;
            kill('SIGINT');
          }
        }, 20);
      },
    });
    expect(sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\)/);
    expect(r.stderr).toMatch(/run the same command again to resume/);
    // No temporary file left; at least the first block is there, not every run.
    expect(readdirSync(join(dir, 'shards')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const st = JSON.parse((await cli(['sweep', 'status', '--out', dir, '--json'])).stdout) as { done: number; runs: number; missing: { start: number; end: number }[] };
    expect(st.runs).toBe(120);
    expect(st.done).toBeGreaterThanOrEqual(5);
    expect(st.done).toBeLessThan(120);
    // Every run done is in a file (with a worker pool, the runs done after a stop may leave holes).
    expect(st.missing.reduce((k, m) => k + m.end - m.start, 0)).toBe(120 - st.done);
    expect(st.missing[0]!.start).toBeGreaterThanOrEqual(5);
    // Resume, then compare with the same sweep run in shards of another cut.
    const resumed = await cli(['sweep', 'run', '--spec', spec, '--out', dir, '--block', '5']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`${120 - st.done} to run, ${st.done} already`);
    const ref = freshDir();
    for (const k of [0, 1]) expect((await cli(['sweep', 'run', '--spec', spec, '--out', ref, '--shard', String(k), '--shards', '2'])).code).toBe(0);
    expect((await cli(['sweep', 'merge', '--out', ref])).code).toBe(0);
    expect(readFileSync(join(dir, 'runs.jsonl'), 'utf8')).toBe(readFileSync(join(ref, 'runs.jsonl'), 'utf8'));
  });
});
