// Builds packages/autobalance/dist with tsc once per vitest run, so that the CLI tests run the
// current sources, and type-checks the tests. Prints which backend the suite is parameterized with.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'packages/autobalance/tsconfig.json'], { cwd: root, stdio: 'inherit' });
  // The tests themselves are type-checked too (strict), without emitting anything.
  execFileSync(process.execPath, [tsc, '-p', 'test/tsconfig.json'], { cwd: root, stdio: 'inherit' });
  process.stdout.write(`autobalance tests: backend ${process.env['AUTOBALANCE_BACKEND'] || '(auto)'}\n`);
}
