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
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"
bench_venv ch5 "$here/.venv" "$here/requirements.txt"
bench_builds ch5 "$root"
exec node "$here/table51.mjs" "$@"
