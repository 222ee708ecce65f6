#!/usr/bin/env bash
# Benchmark of gradient descent on the octopus function (issue 15): plain float GD steps on the
# native and wasm backends (through packages/autobalance/dist) against a NumPy peer, the exact
# (logScale) mode's runs through all saddles and its speed-up, in one run. See
# bench/octopus/README.md. Not part of scripts/test.sh.
#
#   bash bench/octopus/run.sh [octopus.mjs options, e.g. --quick, --wait-idle 60]
#
# Sets up (idempotently) the bench-only Python venv bench/octopus/.venv with the pinned NumPy of
# bench/octopus/requirements.txt (PyPI), runs scripts/setup.sh when a build output (release addon,
# wasm module, packages/autobalance/dist) is missing, and runs octopus.mjs. A backend that does not
# load is reported and skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bench/octopus: creating Python venv at bench/octopus/.venv" >&2
  python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  echo "bench/octopus: installing bench/octopus/requirements.txt into bench/octopus/.venv (PyPI)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
fi

# From a clean checkout the build outputs are missing: scripts/setup.sh (idempotent) installs the
# JS toolchain and builds the addon, the wasm module and packages/autobalance/dist.
if [[ ! -f "$root/packages/autobalance/native/autobalance.node" || ! -f "$root/packages/autobalance/wasm/autobalance_wasm_bg.wasm" || ! -f "$root/packages/autobalance/dist/index.js" ]]; then
  echo "bench/octopus: build outputs missing: running scripts/setup.sh" >&2
  bash "$root/scripts/setup.sh"
fi
if [[ ! -f "$root/packages/autobalance/dist/index.js" ]]; then
  echo "bench/octopus: building packages/autobalance/dist (tsc)" >&2
  (cd "$root/packages/autobalance" && npx tsc -p tsconfig.json)
fi

exec node "$here/octopus.mjs" "$@"
