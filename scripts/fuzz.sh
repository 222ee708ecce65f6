#!/usr/bin/env bash
# The long fuzz run (issue 10): test/fuzz.test.ts with many cases, every case on BOTH backends (native
# and wasm, loaded in one process), tallying failures instead of stopping at the first.
#
#   bash scripts/fuzz.sh [CASES] [SEED]      # defaults: 100000 cases, seed 1
#
# Prints the cases run, the failures by kind (with examples and the FUZZ_SEED / FUZZ_CASE that
# reproduce each), and the time; writes every failure to out/fuzz/fuzz-<seed>.json. Exit status 0
# when no case failed, 1 otherwise. Reproduce one case with
#   FUZZ_SEED=<seed> FUZZ_CASE=<i> FUZZ_REPORT_ONLY=1 pnpm exec vitest run test/fuzz.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
seed="${2:-1}"
mkdir -p out/fuzz
report="out/fuzz/fuzz-${seed}.json"
log="out/fuzz/fuzz-${seed}.log"
rm -f "$report"
start=$(date +%s)
echo "fuzz: ${cases} cases, seed ${seed}, each case on native and wasm ($(nproc) cores, $(uname -m)); log ${log}"
set +e
FUZZ_RUNS="$cases" FUZZ_SEED="$seed" FUZZ_REPORT_ONLY=1 FUZZ_REPORT_FILE="$report" \
  pnpm exec vitest run test/fuzz.test.ts >"$log" 2>&1
status=$?
set -e
end=$(date +%s)
if [ ! -f "$report" ]; then
  echo "fuzz: the run did not finish (vitest exit status ${status}; a crash or a hang?): see ${log}" >&2
  tail -40 "$log" >&2
  exit 2
fi
# The summary the test printed (cases, failures by kind, examples).
sed -n '/^fuzz summary/,/^ *$/p' "$log" | sed '/^ *$/d' | head -80
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const byKind = {};
for (const f of r.failures) {
  const k = f.kind + (f.mutation ? ` (${f.mutation.target ? f.mutation.target + " " : ""}${f.mutation.kind})` : " (valid)");
  byKind[k] = (byKind[k] ?? 0) + 1;
}
const cases = new Set(r.failures.map((f) => f.index)).size;
console.log(`cases run: ${r.cases} (each on native and wasm) in ${r.seconds.toFixed(0)} s; failing cases: ${cases}; failures: ${r.failures.length}`);
for (const [k, n] of Object.entries(byKind).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
process.exit(r.failures.length === 0 ? 0 : 1);
' "$report" && ok=0 || ok=1
echo "fuzz: wall time $((end - start)) s (including the TypeScript build of the test setup)"
exit "$ok"
