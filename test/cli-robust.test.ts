// The CLI (packages/autobalance/dist/cli.js, built by the global setup) on paths it cannot write
// and on spec files with a byte-order mark: it fails fast with a clear message and exit code 1
// before doing any work (it used to run, then spin at 100% CPU forever in Node's recursive mkdir
// under /proc), and it reads a spec that starts with a UTF-8 BOM.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { BACKEND, smallSpec } from './helpers.js';

const CLI = fileURLToPath(new URL('../packages/autobalance/dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'autobalance-cli-robust-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the CLI; a CLI that hangs is killed after `limitMs` (and the test then fails on `code`). */
function cli(args: string[], limitMs = 15_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, AUTOBALANCE_BACKEND: BACKEND },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A spec that takes a few seconds: a CLI that checks its paths only afterwards is slow to fail. */
const slowSpec = join(tmp, 'slow.json');
writeFileSync(slowSpec, JSON.stringify(smallSpec({ steps: BACKEND === 'native' ? 2_000_000 : 400_000, recordEvery: 1000 })));
const quickSpec = join(tmp, 'quick.json');
writeFileSync(quickSpec, JSON.stringify(smallSpec({ steps: 50 })));
const studySpec = join(tmp, 'study.json');
writeFileSync(studySpec, JSON.stringify({ kind: 'hessianGrid', run: smallSpec({ steps: 10 }), query: { what: 'trace', probes: 4 } }));

describe(`CLI output paths and spec files on ${BACKEND}`, () => {
  it.each([
    ['train --out under /proc (a directory that cannot be created)', ['train', '--spec', slowSpec, '--out', '/proc/autobalance-test/result.json'], '--out'],
    ['train --out directly in /proc (a file that cannot be created)', ['train', '--spec', slowSpec, '--out', '/proc/autobalance-test.json'], '--out'],
    ['train --report under /proc', ['train', '--spec', slowSpec, '--report', '/proc/autobalance-test/report.html'], '--report'],
    ['train --out below a regular file', ['train', '--spec', slowSpec, '--out', `${slowSpec}/result.json`], '--out'],
    ['study --csv under /proc', ['study', '--spec', studySpec, '--csv', '/proc/autobalance-test/c.csv'], '--csv'],
    ['run --out DIR under /proc', ['run', 'figure1', '--out', '/proc/autobalance-test'], '--out'],
  ])('%s: exit 1 at once, naming the flag', async (_what, args, flag) => {
    const r = await cli(args as string[]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${flag}: cannot write `, 'm'));
    // Failed before the run: no progress line, no result, in well under the run's time.
    expect(r.stderr).not.toMatch(/^train: |finished after/m);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeLessThan(5_000);
  });

  it('an output path is checked without leaving a file behind, and missing directories are created', async () => {
    const out = join(tmp, 'a', 'b', 'result.json');
    const r = await cli(['train', '--spec', quickSpec, '--out', out, '--report', '/proc/autobalance-test/r.html']);
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    const ok = await cli(['train', '--spec', quickSpec, '--out', out]);
    expect(ok.code).toBe(0);
    expect((JSON.parse(readFileSync(out, 'utf8')) as { step: number }).step).toBe(50);
  });

  it('a spec file starting with a UTF-8 byte-order mark is read', async () => {
    const path = join(tmp, 'bom.json');
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(smallSpec({ steps: 20 })))]));
    const r = await cli(['train', '--spec', path]);
    expect(r.stderr).not.toMatch(/not valid JSON/);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { step: number }).step).toBe(20);
  });

  it('a study spec with a BOM is read too', async () => {
    const path = join(tmp, 'bom-study.json');
    writeFileSync(path, `\uFEFF${readFileSync(studySpec, 'utf8')}`);
    const r = await cli(['study', '--spec', path]);
    expect(r.stderr).not.toMatch(/not valid JSON/);
    expect(r.code).toBe(0);
  });
});
