/**
 * A sweep on disk (Node only): the directory that `autobalance sweep run|missing|merge|status`
 * share, so that a sweep can run in pieces (shards of a Slurm array, blocks of a local run
 * interrupted by Ctrl-C) and be merged later.
 *
 *     DIR/sweep.json                   the sweep spec (without `runs`/`threads`) and its `"hash"`;
 *                                      written on first use, a different hash in DIR is an error
 *     DIR/shards/runs-<a>-<b>.jsonl    the rows of runs a <= i < b, in run order, one JSON line
 *                                      each (streamed to a temporary file `.runs-<a>-<b>.<pid>.tmp`
 *                                      and renamed when complete: a file that exists is complete)
 *     DIR/runs.jsonl                   every row in run order, once (`sweep merge`)
 *     DIR/table.json, DIR/table.csv    the reduced table, one row per setting (`sweep merge`)
 *     DIR/report.html                  the report (`sweep merge`)
 *
 * Shard K of N covers runs `[floor(K*R/N), floor((K+1)*R/N))`. Files may overlap (shards of
 * another N, a block re-run after a partial file): the merge takes every run once and fails when
 * two files disagree about a run. Everything streams: memory does not grow with the number of
 * runs (only with the number of settings, for the reduced table).
 *
 * @module
 */

import { createReadStream, closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import { type BackendChoice, resolveBackend } from './backend.js';
import type { Provenance } from './html.js';
import { makeDirs } from './node-files.js';
import { type SweepPlan, type SweepRow, type SweepSettingRow, type SweepSpec, type SweepTable, reduceRows, sweep, sweepPlan } from './sweep.js';

/** Half-open range of run indices, `start <= run < end`. */
export interface RunRange {
  /** First run. */
  start: number;
  /** One past the last run. */
  end: number;
}

/** A complete shard file found in `DIR/shards`. */
export interface ShardFile extends RunRange {
  /** Its path. */
  path: string;
  /** Its name (`runs-<start>-<end>.jsonl`). */
  name: string;
}

/** An error about the files of a sweep directory (the CLI prints it and exits with code 1). */
export class SweepFilesError extends Error {
  constructor(
    /** The file or flag concerned (`--out`, a path). */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'SweepFilesError';
  }
}

/** The folder of shard files. */
export const SHARDS_DIR = 'shards';

const SHARD_RE = /^runs-(\d+)-(\d+)\.jsonl$/;
const TEMP_RE = /^\.runs-(\d+)-(\d+)\.jsonl\.(\d+)\.tmp$/;

/** The runs of shard `k` of `n` in a sweep of `total` runs. */
export function shardRange(k: number, n: number, total: number): RunRange {
  return { start: Math.floor((k * total) / n), end: Math.floor(((k + 1) * total) / n) };
}

/** `runs-<start>-<end>.jsonl`. */
export function shardFileName(r: RunRange): string {
  return `runs-${r.start}-${r.end}.jsonl`;
}

/** `[a, b)` ranges as text: `[0, 25) (25 runs), [50, 75) (25 runs)`. */
export function formatRanges(ranges: readonly RunRange[], max = 20): string {
  const shown = ranges.slice(0, max).map((r) => `[${r.start}, ${r.end}) (${r.end - r.start} run${r.end - r.start === 1 ? '' : 's'})`);
  if (ranges.length > max) shown.push(`and ${ranges.length - max} more`);
  return shown.join(', ');
}

/** Total number of runs in `ranges` (disjoint). */
export function countRuns(ranges: readonly RunRange[]): number {
  return ranges.reduce((n, r) => n + (r.end - r.start), 0);
}

/** The complete shard files of `dir`, sorted by start then end. */
export function listShards(dir: string): ShardFile[] {
  const sd = join(dir, SHARDS_DIR);
  let names: string[];
  try {
    names = readdirSync(sd);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw e;
  }
  const out: ShardFile[] = [];
  for (const name of names) {
    const m = SHARD_RE.exec(name);
    if (!m) continue;
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (!(end > start)) continue;
    out.push({ start, end, name, path: join(sd, name) });
  }
  out.sort((a, b) => a.start - b.start || a.end - b.end);
  return out;
}

/** Temporary files left in `DIR/shards` (a shard being written now, or by a process that died). */
export function listTempFiles(dir: string): { name: string; pid: number; range: RunRange; alive: boolean }[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, SHARDS_DIR));
  } catch {
    return [];
  }
  const out = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[3]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    out.push({ name, pid, range: { start: Number(m[1]), end: Number(m[2]) }, alive });
  }
  return out;
}

/** The runs of `within` that no file in `files` covers, as disjoint sorted ranges. */
export function missingRanges(files: readonly RunRange[], within: RunRange): RunRange[] {
  const sorted = [...files].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: RunRange[] = [];
  let at = within.start;
  for (const f of sorted) {
    if (at >= within.end) break;
    if (f.end <= at) continue;
    if (f.start > at) out.push({ start: at, end: Math.min(f.start, within.end) });
    at = Math.max(at, f.end);
  }
  if (at < within.end) out.push({ start: at, end: within.end });
  return out;
}

/** The shards (of `n`, over `total` runs) that have at least one missing run. */
export function missingShards(missing: readonly RunRange[], n: number, total: number): number[] {
  const out: number[] = [];
  let i = 0;
  for (let k = 0; k < n; k++) {
    const s = shardRange(k, n, total);
    if (s.end === s.start) continue;
    while (i < missing.length && missing[i]!.end <= s.start) i++;
    if (i < missing.length && missing[i]!.start < s.end) out.push(k);
  }
  return out;
}

/** Shard indices as Slurm's `--array` list: `0-3,7,9-10`. */
export function arrayList(shards: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < shards.length; ) {
    let j = i;
    while (j + 1 < shards.length && shards[j + 1] === shards[j]! + 1) j++;
    parts.push(j === i ? `${shards[i]}` : `${shards[i]}-${shards[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

// ---------------------------------------------------------------------------------------------
// DIR/sweep.json

/** The spec fields that are not part of a sweep's identity (the study-only fields). */
export const STUDY_ONLY_FIELDS = ['runs', 'threads'] as const;

/** A copy of the spec without its study-only fields and without a `hash` written by us. */
export function identitySpec(spec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'hash' || (STUDY_ONLY_FIELDS as readonly string[]).includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/** The path of `DIR/sweep.json`. */
export function sweepJsonPath(dir: string): string {
  return join(dir, 'sweep.json');
}

/** What `DIR/sweep.json` holds: the spec and its hash. */
export interface SweepDirSpec {
  /** The spec (identity fields only). */
  spec: Record<string, unknown>;
  /** The sweep's identity (16 hex digits). */
  hash: string;
}

/** Read `DIR/sweep.json`; a missing or unreadable file is a {@link SweepFilesError}. */
export function readSweepDir(dir: string): SweepDirSpec {
  const path = sweepJsonPath(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') {
      throw new SweepFilesError('--out', `${dir} holds no sweep (no sweep.json): start it with \`autobalance sweep run --spec S --out ${dir}\` or \`sweep submit\``);
    }
    throw new SweepFilesError('--out', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SweepFilesError('--out', `${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof (parsed as { hash?: unknown }).hash !== 'string') {
    throw new SweepFilesError('--out', `${path} is not a sweep directory's spec (an object with "hash")`);
  }
  const p = parsed as Record<string, unknown>;
  return { spec: identitySpec(p), hash: p['hash'] as string };
}

/**
 * Make `dir` the directory of the sweep `spec` with identity `hash`: write `DIR/sweep.json` if
 * it is absent (atomically: a temporary file linked into place, so concurrent shards agree on
 * one), else check that it holds the same hash (another sweep's directory is an error).
 * Returns true when this call wrote it.
 */
export function initSweepDir(dir: string, spec: Record<string, unknown>, hash: string): boolean {
  try {
    makeDirs(join(dir, SHARDS_DIR));
  } catch (e) {
    throw new SweepFilesError('--out', `cannot create ${join(dir, SHARDS_DIR)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const path = sweepJsonPath(dir);
  const check = (): boolean => {
    const existing = readSweepDir(dir);
    if (existing.hash !== hash) {
      throw new SweepFilesError(
        '--out',
        `${dir} belongs to another sweep (hash ${existing.hash} in ${path}, this spec has ${hash}): use another --out, or remove ${dir}`,
      );
    }
    return false;
  };
  if (existsSync(path)) return check();
  const tmp = `${path}.${process.pid}.tmp`;
  writeAtomic(tmp, JSON.stringify({ ...identitySpec(spec), hash }, null, 2) + '\n', null);
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return check();
    throw new SweepFilesError('--out', `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone already */
    }
  }
  return true;
}

/** Write `text` to `tmp`, fsync it, then rename it to `path` (or leave it at `tmp` when null). */
export function writeAtomic(tmp: string, text: string, path: string | null): void {
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (path !== null) renameSync(tmp, path);
}

/** Write `text` to `path` atomically (temporary file in the same folder, then rename). */
export function writeFileAtomic(path: string, text: string): void {
  makeDirs(resolve(path, '..'));
  writeAtomic(`${path}.${process.pid}.tmp`, text, path);
}

// ---------------------------------------------------------------------------------------------
// Writing shard files

/**
 * The rows of one range of runs, streamed to `DIR/shards/.runs-<a>-<b>.jsonl.<pid>.tmp` and
 * renamed to `runs-<a>-<b>.jsonl` by {@link finish} once every run is there. Rows must come in
 * run order without gaps, from `start`. {@link finish} with fewer rows (a cancelled run) keeps
 * those that are there as `runs-<a>-<a+n>.jsonl`; {@link discard} removes the temporary file.
 */
export class ShardWriter {
  readonly tmp: string;
  #fd: number | null;
  #buf: string[] = [];
  #bufChars = 0;
  #next: number;

  constructor(
    readonly dir: string,
    readonly range: RunRange,
  ) {
    const sd = join(dir, SHARDS_DIR);
    makeDirs(sd);
    this.tmp = join(sd, `.${shardFileName(range)}.${process.pid}.tmp`);
    this.#fd = openSync(this.tmp, 'w');
    this.#next = range.start;
  }

  /** The run expected next. */
  get next(): number {
    return this.#next;
  }

  /** Runs written so far. */
  get count(): number {
    return this.#next - this.range.start;
  }

  /** True once every run of the range is written. */
  get full(): boolean {
    return this.#next >= this.range.end;
  }

  /** Append the row of the next run (`run` must be the next index; `line` has no newline). */
  write(run: number, line: string): void {
    if (run !== this.#next) throw new Error(`shard ${shardFileName(this.range)}: expected run ${this.#next}, got run ${run}`);
    if (run >= this.range.end) throw new Error(`shard ${shardFileName(this.range)}: run ${run} is past its end`);
    this.#buf.push(line, '\n');
    this.#bufChars += line.length + 1;
    this.#next++;
    if (this.#bufChars >= 1 << 16) this.#flush();
  }

  #flush(): void {
    if (this.#buf.length === 0 || this.#fd === null) return;
    writeSync(this.#fd, this.#buf.join(''));
    this.#buf = [];
    this.#bufChars = 0;
  }

  /**
   * Close the file and rename it into place, covering the runs written so far: the whole range,
   * or (after a cancellation) `[start, start + count)`. Nothing is kept when no run was written.
   * Returns the file written, or null.
   */
  finish(): ShardFile | null {
    if (this.#fd === null) return null;
    this.#flush();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = null;
    if (this.count === 0) {
      unlinkQuietly(this.tmp);
      return null;
    }
    const r = { start: this.range.start, end: this.#next };
    const name = shardFileName(r);
    const path = join(this.dir, SHARDS_DIR, name);
    renameSync(this.tmp, path);
    return { ...r, name, path };
  }

  /** Close and remove the temporary file (nothing is kept). */
  discard(): void {
    if (this.#fd !== null) {
      closeSync(this.#fd);
      this.#fd = null;
    }
    unlinkQuietly(this.tmp);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* not there */
  }
}

/**
 * Split `ranges` into blocks of at most `block` runs, cut at multiples of `block` (so that the
 * blocks of a resumed run line up with those of the first one).
 */
export function splitBlocks(ranges: readonly RunRange[], block: number): RunRange[] {
  const out: RunRange[] = [];
  for (const r of ranges) {
    let a = r.start;
    while (a < r.end) {
      const b = Math.min(r.end, (Math.floor(a / block) + 1) * block);
      out.push({ start: a, end: b });
      a = b;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading and merging shard files

/** One row line of a shard file, with its run index. */
export interface RowLine {
  /** The run index. */
  run: number;
  /** The line (without its newline). */
  line: string;
  /** The parsed row. */
  row: Record<string, unknown>;
}

/** Reads a shard file line by line (readline over a stream: memory stays flat). */
class ShardReader {
  #it: AsyncIterator<string>;
  #lineNo = 0;
  #close: () => void;
  constructor(readonly file: ShardFile) {
    const stream = createReadStream(file.path, { encoding: 'utf8', highWaterMark: 1 << 18 });
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    this.#it = rl[Symbol.asyncIterator]();
    this.#close = () => {
      rl.close();
      stream.destroy();
    };
  }

  /** The next row, which must be run `expect`. */
  async next(expect: number): Promise<RowLine> {
    for (;;) {
      const r = await this.#it.next();
      this.#lineNo++;
      if (r.done) {
        throw new SweepFilesError(
          this.file.path,
          `ends after ${this.#lineNo - 1} line(s), expected run ${expect} (its name says runs [${this.file.start}, ${this.file.end})): a truncated or edited file; remove it and run its shard again`,
        );
      }
      const line = r.value;
      if (line.trim() === '') continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new SweepFilesError(this.file.path, `line ${this.#lineNo} is not JSON (${e instanceof Error ? e.message : String(e)}); remove the file and run its shard again`);
      }
      const run = typeof row === 'object' && row !== null ? (row as { run?: unknown }).run : undefined;
      if (run !== expect) {
        throw new SweepFilesError(this.file.path, `line ${this.#lineNo} holds run ${JSON.stringify(run)}, expected run ${expect}; remove the file and run its shard again`);
      }
      return { run: expect, line, row: row as Record<string, unknown> };
    }
  }

  /** After its last run: the file must have nothing more. */
  async end(): Promise<void> {
    for (;;) {
      const r = await this.#it.next();
      if (r.done) break;
      this.#lineNo++;
      if (r.value.trim() !== '') {
        this.close();
        throw new SweepFilesError(this.file.path, `line ${this.#lineNo}: more rows than its name says (runs [${this.file.start}, ${this.file.end}))`);
      }
    }
    this.close();
  }

  close(): void {
    this.#close();
  }
}

/** Canonical JSON (sorted keys), for comparing rows whose key order may differ. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    if (canonical(a[k]) !== canonical(b[k])) return `${k}: ${truncate(canonical(a[k]))} vs ${truncate(canonical(b[k]))}`;
  }
  return '(key order)';
}

function truncate(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

/** Statistics of a {@link mergedRows} pass. */
export interface MergeStats {
  /** Runs produced. */
  runs: number;
  /** Rows read beyond the first of their run (overlapping files), all equal to it. */
  duplicates: number;
  /** Files read. */
  files: number;
}

/**
 * Every run of `[0, total)` once, in run order, from the shard files of `dir`: a k-way merge of
 * the files by run index that opens a file when the merge reaches its first run and closes it
 * after its last (so only overlapping files are open at once). Each file must hold exactly the
 * runs its name says, in order. A run found in several files is taken once; the copies must be
 * equal (as JSON), else a {@link SweepFilesError} names the run, both files and the first field
 * that differs. Call {@link missingRanges} first: a run that no file covers is an error here.
 */
export async function* mergedRows(dir: string, total: number, stats?: MergeStats): AsyncGenerator<RowLine> {
  const files = listShards(dir).filter((f) => f.start < total);
  const over = files.find((f) => f.end > total);
  if (over) throw new SweepFilesError(over.path, `covers runs up to ${over.end - 1}, but the sweep has ${total} runs: it belongs to another sweep`);
  const active: ShardReader[] = [];
  let nextFile = 0;
  const s = stats ?? { runs: 0, duplicates: 0, files: 0 };
  try {
    for (let run = 0; run < total; run++) {
      while (nextFile < files.length && files[nextFile]!.start === run) {
        active.push(new ShardReader(files[nextFile]!));
        s.files++;
        nextFile++;
      }
      if (active.length === 0) {
        const m = missingRanges(files, { start: run, end: total });
        throw new SweepFilesError('--out', `${dir}: missing runs ${formatRanges(m.slice(0, 1))}`);
      }
      let first: RowLine | null = null;
      let firstFile = '';
      for (const reader of active) {
        const r = await reader.next(run);
        if (first === null) {
          first = r;
          firstFile = reader.file.path;
        } else {
          s.duplicates++;
          if (r.line !== first.line && canonical(r.row) !== canonical(first.row)) {
            throw new SweepFilesError(
              reader.file.path,
              `run ${run} differs between ${firstFile} and ${reader.file.path} (${firstDifference(first.row, r.row)}): the files come from different code or data; remove the wrong one and run its shard again`,
            );
          }
        }
      }
      // Close the files that end here.
      for (let i = active.length - 1; i >= 0; i--) {
        if (active[i]!.file.end === run + 1) {
          await active[i]!.end();
          active.splice(i, 1);
        }
      }
      s.runs++;
      yield first!;
    }
  } finally {
    for (const r of active) r.close();
  }
}

/** Streams lines to a file through a temporary file renamed into place by {@link commit}. */
export class AtomicLineWriter {
  readonly tmp: string;
  #fd: number | null;
  #buf: string[] = [];
  #chars = 0;
  constructor(readonly path: string) {
    makeDirs(resolve(path, '..'));
    this.tmp = `${path}.${process.pid}.tmp`;
    this.#fd = openSync(this.tmp, 'w');
  }
  /** Append `line` and a newline. */
  write(line: string): void {
    this.#buf.push(line, '\n');
    this.#chars += line.length + 1;
    if (this.#chars >= 1 << 16) this.#flush();
  }
  #flush(): void {
    if (this.#fd === null || this.#buf.length === 0) return;
    writeSync(this.#fd, this.#buf.join(''));
    this.#buf = [];
    this.#chars = 0;
  }
  /** Flush, fsync, close and rename into place. */
  commit(): void {
    if (this.#fd === null) return;
    this.#flush();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = null;
    renameSync(this.tmp, this.path);
  }
  /** Close and remove the temporary file. */
  discard(): void {
    if (this.#fd !== null) {
      closeSync(this.#fd);
      this.#fd = null;
    }
    unlinkQuietly(this.tmp);
  }
}

// ---------------------------------------------------------------------------------------------
// Running ranges of a sweep into shard files, and merging them

/** Progress of {@link runRanges}: runs done in this call, of those it has to do. */
export interface RunRangesProgress {
  /** Runs computed so far by this call. */
  done: number;
  /** Runs this call has to compute (the missing runs of its range). */
  total: number;
  /** Milliseconds since this call started computing. */
  elapsedMs: number;
  /** Estimated milliseconds left (null before the first run finishes). */
  etaMs: number | null;
}

/** Options of {@link runRanges}. */
export interface RunRangesOptions {
  /** The sweep directory (made with {@link initSweepDir}). */
  dir: string;
  /** The sweep spec (identity fields only). */
  spec: SweepSpec;
  /** The runs to cover (a shard, or the whole sweep). */
  range: RunRange;
  /**
   * Runs per file: files are cut at multiples of it (a local run in blocks); null writes one file
   * per missing piece of `range` (a shard: normally one file, `runs-<start>-<end>.jsonl`).
   */
  block: number | null;
  /** The backend. */
  backend?: BackendChoice;
  /** Threads of the sweep's pool (native: rayon threads; wasm: worker threads). */
  threads?: number;
  /** Stops between chunks of runs; the runs finished are kept (their file is written). */
  signal?: AbortSignal;
  /** Called as runs finish. */
  onProgress?: (p: RunRangesProgress) => void;
  /** Called with each file written. */
  onFile?: (f: ShardFile) => void;
}

/** What {@link runRanges} did. */
export interface RunRangesResult {
  /** The runs of the range that were missing when it started. */
  todo: RunRange[];
  /** Runs computed. */
  done: number;
  /** Files written. */
  files: ShardFile[];
  /** True when the signal stopped it before every missing run was done. */
  cancelled: boolean;
}

/**
 * Compute the runs of `range` that no shard file of `dir` holds yet (a rerun resumes), one
 * `sweep()` per missing piece, streaming the rows into files written atomically. A cancellation
 * (or an error) keeps the runs finished so far: the file being written is closed as
 * `runs-<start>-<last+1>.jsonl`.
 */
export async function runRanges(o: RunRangesOptions): Promise<RunRangesResult> {
  const todo = missingRanges(listShards(o.dir), o.range);
  const total = countRuns(todo);
  const files: ShardFile[] = [];
  let done = 0;
  const t0 = Date.now();
  const pieces = o.block === null ? todo : splitBlocks(todo, o.block);
  let cancelled = false;
  let lastTurn = Date.now();
  for (const gap of todo) {
    if (o.signal?.aborted) {
      cancelled = true;
      break;
    }
    const handle = sweep(o.spec, {
      runs: { start: gap.start, end: gap.end },
      ...(o.backend !== undefined ? { backend: o.backend } : {}),
      // Native: the study's rayon pool; wasm: the pool of worker threads (each option is ignored
      // by the other backend).
      ...(o.threads !== undefined ? { threads: o.threads, workers: o.threads } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    // The table is not touched here (the merge reduces from the files): awaiting it would make
    // it drive the sweep. `sweep()` keeps its rejection from being an unhandled one.
    await handle.plan;
    const blocks = pieces.filter((p) => p.start >= gap.start && p.end <= gap.end);
    let writer: ShardWriter | null = null;
    const close = (): void => {
      if (writer === null) return;
      const f = writer.finish();
      writer = null;
      if (f) {
        files.push(f);
        o.onFile?.(f);
      }
    };
    try {
      for await (const row of handle.rows) {
        // Rows come in run order; after a stop they may skip runs (a worker pool's later blocks
        // finished before earlier ones): each contiguous stretch becomes its own file.
        if (writer !== null && row.run !== writer.next) close();
        if (writer === null) {
          const piece = blocks.find((p) => p.start <= row.run && row.run < p.end);
          if (!piece) throw new Error(`sweep(): run ${row.run} is outside the runs asked for [${gap.start}, ${gap.end})`);
          writer = new ShardWriter(o.dir, { start: row.run, end: piece.end });
        }
        writer.write(row.run, JSON.stringify(row));
        done++;
        if (writer.full) close();
        const now = Date.now();
        if (now - lastTurn > 50) {
          // Let signals (Ctrl-C) and timers in, whatever the rows iterator does between rows.
          await new Promise((r) => setImmediate(r));
          lastTurn = Date.now();
        }
        const elapsedMs = now - t0;
        o.onProgress?.({ done, total, elapsedMs, etaMs: done > 0 ? (elapsedMs / done) * (total - done) : null });
      }
    } catch (e) {
      close();
      if (o.signal?.aborted) {
        cancelled = true;
        break;
      }
      throw e;
    }
    close();
    if (o.signal?.aborted && countRuns(missingRanges(files, gap)) > 0) {
      cancelled = true;
      break;
    }
  }
  if (!cancelled && o.signal?.aborted && done < total) cancelled = true;
  return { todo, done, files, cancelled };
}

/** The plan of a sweep (runs, settings, axes, hash), without running anything. */
export async function planOf(spec: SweepSpec, backend?: BackendChoice): Promise<SweepPlan> {
  return await sweepPlan(spec, backend !== undefined ? { backend } : {});
}

/** The state of a sweep directory. */
export interface SweepDirStatus {
  /** The spec and hash of `DIR/sweep.json`. */
  spec: SweepDirSpec;
  /** The plan. */
  plan: SweepPlan;
  /** Complete shard files. */
  files: ShardFile[];
  /** Runs that no file holds. */
  missing: RunRange[];
  /** Runs held by some file. */
  done: number;
  /** Temporary files (shards being written, or left by a process that died). */
  temp: ReturnType<typeof listTempFiles>;
}

/** Read the state of `dir` (its spec, plan, files and missing runs). */
export async function sweepDirStatus(dir: string, backend?: BackendChoice): Promise<SweepDirStatus> {
  const spec = readSweepDir(dir);
  const plan = await planOf(spec.spec as unknown as SweepSpec, backend);
  if (plan.hash !== spec.hash) {
    throw new SweepFilesError('--out', `${sweepJsonPath(dir)} says hash ${spec.hash}, but its spec has hash ${plan.hash} (edited, or written by another version): start a new directory`);
  }
  const files = listShards(dir);
  const missing = missingRanges(files, { start: 0, end: plan.runs });
  return { spec, plan, files, missing, done: plan.runs - countRuns(missing), temp: listTempFiles(dir) };
}

/** Options of {@link mergeSweep}. */
export interface MergeOptions {
  /** The backend (for the plan and the reductions). */
  backend?: BackendChoice;
  /** Called every few thousand runs. */
  onProgress?: (done: number, total: number) => void;
  /** The command line shown in the report. */
  command?: string;
  /** Write `report.html` (default true). */
  report?: boolean;
  /**
   * What produced it (date, versions, machine), shown in the report's "How this was produced";
   * the backend, core version and the files written beside the report are filled in here.
   */
  provenance?: Provenance;
}

/** What {@link mergeSweep} wrote. */
export interface MergeResult {
  /** Runs merged. */
  runs: number;
  /** Duplicate rows dropped (overlapping shard files). */
  duplicates: number;
  /** Shard files read. */
  files: number;
  /** Settings in the table. */
  settings: number;
  /** The files written. */
  written: string[];
  /** Why there is no report, if there is none. */
  noReport: string | null;
}

/**
 * Merge the shard files of `dir` into `runs.jsonl` (every run once, in run order), the reduced
 * table (`table.json`, `table.csv`; one row per setting, reduced as the merge streams) and
 * `report.html`. Fails with a {@link SweepFilesError} naming the missing runs unless every run
 * is there, and on conflicting duplicates. Outputs are written atomically.
 */
export async function mergeSweep(dir: string, o: MergeOptions = {}): Promise<MergeResult> {
  const st = await sweepDirStatus(dir, o.backend);
  if (st.missing.length > 0) {
    throw new SweepFilesError(
      '--out',
      `${dir} is incomplete: ${countRuns(st.missing)} of ${st.plan.runs} runs missing: ${formatRanges(st.missing)}. Run them (\`autobalance sweep run --out ${dir} --spec ${sweepJsonPath(dir)}\`, or \`sweep missing --out ${dir} --shards N\` for the shards to resubmit), then merge again`,
    );
  }
  const spec = st.spec.spec as unknown as SweepSpec;
  const total = st.plan.runs;
  const stats: MergeStats = { runs: 0, duplicates: 0, files: 0 };
  const runsPath = join(dir, 'runs.jsonl');
  const out = new AtomicLineWriter(runsPath);
  const settings: SweepSettingRow[] = [];
  try {
    async function* rows(): AsyncGenerator<SweepRow> {
      for await (const r of mergedRows(dir, total, stats)) {
        out.write(r.line);
        if (o.onProgress && stats.runs % 4096 === 0) o.onProgress(stats.runs, total);
        yield r.row as unknown as SweepRow;
      }
    }
    for await (const s of reduceRows(o.backend, spec, rows())) settings.push(s);
    out.commit();
  } catch (e) {
    out.discard();
    throw e;
  }
  o.onProgress?.(stats.runs, total);
  const table: SweepTable = { plan: st.plan, settings, complete: true, stopped: null };
  const written = [runsPath];
  const tablePath = join(dir, 'table.json');
  writeFileAtomic(tablePath, JSON.stringify(table) + '\n');
  written.push(tablePath);
  const report = await loadReport();
  const csvPath = join(dir, 'table.csv');
  writeFileAtomic(csvPath, report.csv ? report.csv(table) : tableCsv(table));
  written.push(csvPath);
  let noReport: string | null = null;
  if (o.report !== false) {
    if (report.html) {
      const htmlPath = join(dir, 'report.html');
      const b = await resolveBackend(o.backend);
      writeFileAtomic(
        htmlPath,
        await report.html({
          spec,
          plan: st.plan,
          table,
          title: `sweep ${st.plan.hash}`,
          backend: b.name,
          coreVersion: b.coreVersion,
          ...(o.command ? { command: o.command } : {}),
          provenance: { ...o.provenance, backend: b.name, coreVersion: b.coreVersion, files: written.map((f) => ({ label: basename(f), href: basename(f) })) },
        }),
      );
      written.push(htmlPath);
    } else {
      noReport = report.why;
    }
  }
  return { runs: stats.runs, duplicates: stats.duplicates, files: stats.files, settings: settings.length, written, noReport };
}

type ReportHtml = (o: { spec: SweepSpec; plan: SweepPlan; table: SweepTable; title?: string; command?: string; backend?: string; coreVersion?: string; provenance?: Provenance }) => Promise<string>;

/** The report functions of `sweep-report.js`, when that module is there. */
async function loadReport(): Promise<{ html: ReportHtml | null; csv: ((t: SweepTable) => string) | null; why: string }> {
  try {
    const m = (await import(['.', 'sweep-report.js'].join('/'))) as { sweepReportHtml?: ReportHtml; sweepTableCsv?: (t: SweepTable) => string };
    return {
      html: typeof m.sweepReportHtml === 'function' ? m.sweepReportHtml : null,
      csv: typeof m.sweepTableCsv === 'function' ? m.sweepTableCsv : null,
      why: 'sweep-report.js has no sweepReportHtml',
    };
  } catch (e) {
    return { html: null, csv: null, why: `the report module is not available (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
}

/** A plain CSV of the table (used when the report module is absent). */
function tableCsv(table: SweepTable): string {
  const esc = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const first = table.settings[0];
  const valueKeys = first ? Object.keys(first.values) : [];
  const header = ['setting', ...valueKeys, 'runs'];
  const lines = [header.join(',')];
  for (const s of table.settings) lines.push([s.setting, ...valueKeys.map((k) => s.values[k]), s.runs].map(esc).join(','));
  return lines.join('\n') + '\n';
}
