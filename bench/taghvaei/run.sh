#!/usr/bin/env bash
# Benchmark of the continuation study (issue 12) against a SciPy peer in one run: see
# continuation.mjs. Not part of scripts/test.sh.
#
#   bash bench/taghvaei/run.sh [--reps N]
#
# Sets up (idempotently) the bench-only Python venv bench/taghvaei/.venv with the pinned NumPy and
# SciPy of requirements.txt (PyPI), runs scripts/setup.sh when a build output is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bench/taghvaei: creating Python venv at bench/taghvaei/.venv" >&2
  python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  echo "bench/taghvaei: installing requirements.txt into bench/taghvaei/.venv (PyPI)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
fi
if [[ ! -f "$root/packages/autobalance/native/autobalance.node" || ! -f "$root/packages/autobalance/wasm/autobalance_wasm_bg.wasm" || ! -f "$root/packages/autobalance/dist/index.js" ]]; then
  bash "$root/scripts/setup.sh"
fi
node "$here/continuation.mjs" --python "$venv/bin/python" "$@"
