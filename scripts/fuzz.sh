#!/usr/bin/env bash
# The long fuzz run (issue 10): test/fuzz.test.ts with many cases, every case on BOTH backends (native
# and wasm, loaded in one process), tallying failures instead of stopping at the first.
#
#   bash scripts/fuzz.sh [CASES] [SEED]      # defaults: 100000 cases, seed 1
#   FUZZ_HANG_S=90 (a case that runs this long is a hang: the run is killed, the case recorded as
#   `hang`, and the run resumes at the next case)
#
# Prints the cases run, the failures by kind and by mutation, and the time; writes every failure
# (one JSON line each) to out/fuzz/fuzz-<seed>.json.jsonl. Exit status 0 when no case failed, 1
# otherwise. Reproduce one case with
#   FUZZ_SEED=<seed> FUZZ_CASE=<i> FUZZ_REPORT_ONLY=1 pnpm exec vitest run test/fuzz.test.ts
set -uo pipefail
set -m # each background job in its own process group, so a hung run can be killed whole
cd "$(dirname "$0")/.."
cases="${1:-100000}"
seed="${2:-1}"
hang_s="${FUZZ_HANG_S:-90}"
mkdir -p out/fuzz
report="out/fuzz/fuzz-${seed}.json"
rm -f "$report" "$report.jsonl" "$report.current" out/fuzz/fuzz-"${seed}"-*.log
start=$(date +%s)
echo "fuzz: ${cases} cases, seed ${seed}, each case on native and wasm ($(nproc) cores, $(uname -m)); logs out/fuzz/fuzz-${seed}-*.log"
first=0
hangs=0
while [ "$first" -lt "$cases" ]; do
  log="out/fuzz/fuzz-${seed}-${first}.log"
  rm -f "$report.current" "$report"
  FUZZ_FIRST="$first" FUZZ_RUNS=$((cases - first)) FUZZ_SEED="$seed" FUZZ_REPORT_ONLY=1 FUZZ_REPORT_FILE="$report" \
    pnpm exec vitest run test/fuzz.test.ts >"$log" 2>&1 &
  pid=$!
  last=""
  since=$(date +%s)
  hung=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    cur=$(cat "$report.current" 2>/dev/null || true)
    now=$(date +%s)
    if [ "$cur" != "$last" ]; then
      last="$cur"
      since=$now
    elif [ -n "$cur" ] && [ $((now - since)) -gt "$hang_s" ]; then
      hung="$cur"
      kill -- -"$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      break
    fi
  done
  wait "$pid" 2>/dev/null
  if [ -n "$hung" ]; then
    hangs=$((hangs + 1))
    echo "fuzz: case ${hung} still running after ${hang_s} s: recorded as a hang, resuming at $((hung + 1))"
    printf '{"kind":"hang","index":%s,"detail":"still running after %s s (native and wasm in turn; killed)","mutation":null}\n' "$hung" "$hang_s" >>"$report.jsonl"
    first=$((hung + 1))
    continue
  fi
  if [ ! -f "$report" ]; then
    echo "fuzz: the run starting at case ${first} ended without a report (a crash?): see ${log}" >&2
    tail -30 "$log" >&2
    cur=$(cat "$report.current" 2>/dev/null || echo "$first")
    printf '{"kind":"crash","index":%s,"detail":"the test process ended without a report","mutation":null}\n' "$cur" >>"$report.jsonl"
    first=$((cur + 1))
    continue
  fi
  sed -n '/^fuzz summary/,/^ *$/p' "$log" | sed '/^ *$/d' | head -60
  break
done
end=$(date +%s)
touch "$report.jsonl"
node -e '
const fs = require("fs");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const byKind = {};
const byDetail = {};
for (const f of lines) {
  byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const k = f.kind + (f.mutation ? ` (${f.mutation.target ? f.mutation.target + " " : ""}${f.mutation.kind})` : f.kind === "hang" || f.kind === "crash" ? "" : " (valid)");
  byDetail[k] = (byDetail[k] ?? 0) + 1;
}
const failing = new Set(lines.map((f) => f.index)).size;
console.log(`cases run: ${process.argv[2]} (each on native and wasm); failing cases: ${failing}; failures: ${lines.length}`);
console.log(`failures by kind: ${Object.entries(byKind).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ") || "none"}`);
for (const [k, n] of Object.entries(byDetail).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
process.exit(lines.length === 0 ? 0 : 1);
' "$report.jsonl" "$cases"
ok=$?
echo "fuzz: wall time $((end - start)) s (including the TypeScript build of the test setup, once per resumed run; ${hangs} hang(s))"
exit "$ok"
