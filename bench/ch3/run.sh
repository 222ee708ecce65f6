#!/usr/bin/env bash
# The kernel recursion (issue 13): the ResNet K^(H) for n points at depth H natively, on wasm and
# in NumPy in one run (same numbers to ~1e-12). See bench/ch3/README.md. Not part of scripts/test.sh.
#
#   bash bench/ch3/run.sh [kernel.mjs options: --n 1000 --depth 30 --nodes 20 --no-wasm]
#
# Sets up (idempotently) the bench-only Python venv bench/ch3/.venv with the pinned NumPy of
# bench/ch3/requirements.txt (PyPI), runs scripts/setup.sh when a build output (release addon,
# wasm module, packages/autobalance/dist) is missing, and runs kernel.mjs. A backend that does not
# load is reported and skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"
bench_venv ch3 "$here/.venv" "$here/requirements.txt"
bench_builds ch3 "$root"
exec node "$here/kernel.mjs" "$@"
