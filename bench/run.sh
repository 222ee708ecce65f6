#!/usr/bin/env bash
# Benchmark: one GD step of matrix factorization on the native addon, the wasm module (in Node)
# and NumPy, in one run. See bench/README.md.
#
#   bash bench/run.sh [mf_step.mjs options, e.g. --quick]
#
# Sets up (idempotently) a bench-only Python venv at bench/.venv with the pinned NumPy from
# bench/requirements.txt, then runs bench/mf_step.mjs, which drives everything and prints the
# table. Needs the build outputs (packages/autobalance/native/autobalance.node, a release build,
# and packages/autobalance/wasm/); backends that are missing are reported and skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bench: creating Python venv at bench/.venv" >&2
  python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  echo "bench: installing bench/requirements.txt into bench/.venv (PyPI)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
fi

# --expose-gc: free each shape's buffers before the next one.
exec node --expose-gc "$here/mf_step.mjs" "$@"
