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
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"
bench_venv octopus "$here/.venv" "$here/requirements.txt"
bench_builds octopus "$root"
exec node "$here/octopus.mjs" "$@"
