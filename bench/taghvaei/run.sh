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
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"
bench_venv taghvaei "$here/.venv" "$here/requirements.txt"
bench_builds taghvaei "$root"
node "$here/continuation.mjs" --python "$here/.venv/bin/python" "$@"
