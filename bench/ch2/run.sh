#!/usr/bin/env bash
# The Figure 2.1 GD step (issue 13) natively, in PyTorch float64 and on wasm in one run: see
# step.mjs and bench/ch2/README.md. Not part of scripts/test.sh.
#
#   bash bench/ch2/run.sh [step.mjs options, e.g. --m 10000 --steps 5 --wasm-m 2000]
#
# Sets up (idempotently) the bench-only Python venv bench/ch2/.venv with the pinned torch of
# bench/requirements-torch.txt and NumPy (PyPI), runs scripts/setup.sh when a build output is
# missing, and runs step.mjs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"
bench_venv ch2 "$here/.venv" "$root/bench/requirements-torch.txt" numpy
bench_builds ch2 "$root"
exec node "$here/step.mjs" "$@"
