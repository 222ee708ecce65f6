#!/usr/bin/env bash
# Table 5.1 (issue 14): the full 180,000-run sweep natively, on wasm and in NumPy in one run, and
# the NumPy oracle of single runs. See bench/ch5/README.md. Not part of scripts/test.sh.
#
#   bash bench/ch5/run.sh [table51.mjs options, e.g. --seeds 500, --no-wasm]
#
# Sets up (idempotently) the bench-only Python venv bench/ch5/.venv with the pinned NumPy of
# bench/ch5/requirements.txt (PyPI), runs scripts/setup.sh when a build output (release addon,
# wasm module, packages/autobalance/dist) is missing, and runs table51.mjs. A backend that does not
# load is reported and skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bench/ch5: creating Python venv at bench/ch5/.venv" >&2
  python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  echo "bench/ch5: installing bench/ch5/requirements.txt into bench/ch5/.venv (PyPI)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
fi

# From a clean checkout the build outputs are missing: scripts/setup.sh (idempotent) installs the
# JS toolchain and builds the addon, the wasm module and packages/autobalance/dist.
if [[ ! -f "$root/packages/autobalance/native/autobalance.node" || ! -f "$root/packages/autobalance/wasm/autobalance_wasm_bg.wasm" || ! -f "$root/packages/autobalance/dist/index.js" ]]; then
  echo "bench/ch5: build outputs missing: running scripts/setup.sh" >&2
  bash "$root/scripts/setup.sh"
fi
if [[ ! -f "$root/packages/autobalance/dist/index.js" ]]; then
  echo "bench/ch5: building packages/autobalance/dist (tsc)" >&2
  (cd "$root/packages/autobalance" && npx tsc -p tsconfig.json)
fi

exec node "$here/table51.mjs" "$@"
