#!/usr/bin/env bash
# Benchmark of sweeps (issue 11): scaling over threads, per-run overhead, the NumPy + joblib/Ray
# peer and the memory of 10^6 runs, in one run. See bench/sweep/README.md.
#
#   bash bench/sweep/run.sh [sweep.mjs options, e.g. --quick, --only scaling,peer, --no-ray]
#
# Sets up (idempotently) the bench-only Python venvs bench/sweep/.venv (NumPy + joblib, from
# requirements.txt) and bench/sweep/.venv-ray (NumPy + Ray, requirements-ray.txt; skipped when the
# install fails or takes more than 2 minutes, or with BENCH_SWEEP_NO_RAY=1), builds the Rust example
# crates/core/examples/sweep_overhead.rs (release, feature parallel), then runs sweep.mjs.
# Needs the release addon packages/autobalance/native/autobalance.node (scripts/build-native.sh)
# and packages/autobalance/dist (tsc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

venv_for() { # dir requirements-file [timeout-seconds]
  local venv="$1" req="$2" limit="${3:-0}" stamp="$1/.requirements.sha256" sum
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then return 0; fi
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  echo "bench/sweep: installing $(basename "$req") into ${venv#"$root"/} (PyPI)" >&2
  local cmd=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req")
  if [[ "$limit" -gt 0 ]]; then cmd=(timeout "$limit" "${cmd[@]}"); fi
  if "${cmd[@]}"; then echo "$sum" >"$stamp"; else return 1; fi
}

venv_for "$here/.venv" "$here/requirements.txt"
if [[ "${BENCH_SWEEP_NO_RAY:-0}" != 1 ]]; then
  if ! venv_for "$here/.venv-ray" "$here/requirements-ray.txt" 120; then
    echo "bench/sweep: Ray did not install within 2 minutes: measured without it" >&2
    rm -rf "$here/.venv-ray"
  fi
fi

test -f "$root/packages/autobalance/native/autobalance.node" || {
  echo "bench/sweep: no native addon: run scripts/build-native.sh" >&2
  exit 1
}
test -f "$root/packages/autobalance/dist/index.js" || {
  echo "bench/sweep: no packages/autobalance/dist: run (cd packages/autobalance && npx tsc -p tsconfig.json)" >&2
  exit 1
}
echo "bench/sweep: cargo build --release --features parallel -p autobalance-core --example sweep_overhead" >&2
(cd "$root" && cargo build --quiet --release --features parallel -p autobalance-core --example sweep_overhead)

exec node --expose-gc "$here/sweep.mjs" "$@"
