// A vitest reporter that ends the output with one plain line, `vitest: N passed, N failed,
// N skipped`, naming the backend of the pass, for tools that read a closing summary line.
import type { File, Task } from 'vitest';
import type { Reporter } from 'vitest/reporters';

function count(tasks: readonly Task[], into: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.type === 'suite') {
      count(t.tasks, into);
      continue;
    }
    const state = t.result?.state;
    if (state === 'pass') into.passed++;
    else if (state === 'fail') into.failed++;
    else into.skipped++;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: File[] = [], errors: unknown[] = []): void {
    const c = { passed: 0, failed: 0, skipped: 0 };
    for (const f of files) {
      count(f.tasks, c);
      if (f.result?.state === 'fail' && f.tasks.length === 0) c.failed++;
    }
    c.failed += errors.length;
    const backend = process.env['AUTOBALANCE_BACKEND'] || 'auto';
    process.stdout.write(`\nbackend ${backend}\nvitest: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped\n`);
  }
}
