#!/usr/bin/env bash
# Record the golden fixtures (crates/core/tests/golden/, test/golden/) from the code of a reference
# worktree, then check that this checkout reproduces them:
#
#   bash scripts/golden-fixtures.sh [REF_WORKTREE]     (default /work/base, a worktree of 222ac85)
#
# The reference worktree must be built (`bash scripts/setup.sh` there, or its steps: pnpm install,
# scripts/build-native.sh, scripts/build-wasm.sh). The golden tests of this checkout are copied
# into it, run there with GOLDEN_WRITE=1 (Rust core, TS on native, TS on wasm), and the fixtures
# they write are copied back here. Run it only when a change of the numbers is intended (or to
# re-record from the same reference), and say so in the commit.
#
# With REF_WORKTREE = "." the fixtures are rewritten from this checkout itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ref="$(cd "${1:-/work/base}" && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

[ -f "$ref/packages/autobalance/native/autobalance.node" ] || { echo "golden-fixtures: $ref has no native addon (build it first)" >&2; exit 1; }
[ -f "$ref/packages/autobalance/wasm/autobalance_wasm_bg.wasm" ] || { echo "golden-fixtures: $ref has no wasm module (build it first)" >&2; exit 1; }

if [ "$ref" != "$here" ]; then
  mkdir -p "$ref/crates/core/tests" "$ref/test"
  cp "$here/crates/core/tests/golden.rs" "$ref/crates/core/tests/golden.rs"
  cp "$here/test/golden.test.ts" "$ref/test/golden.test.ts"
fi
mkdir -p "$ref/crates/core/tests/golden" "$ref/test/golden"

echo "golden-fixtures: recording in $ref ($(git -C "$ref" log --oneline -1))"
(cd "$ref" && GOLDEN_WRITE=1 cargo test -q -p autobalance-core --release --test golden)
(cd "$ref" && GOLDEN_WRITE=1 AUTOBALANCE_BACKEND=native pnpm exec vitest run test/golden.test.ts)
(cd "$ref" && GOLDEN_WRITE=1 AUTOBALANCE_BACKEND=wasm pnpm exec vitest run test/golden.test.ts)

if [ "$ref" != "$here" ]; then
  cp "$ref"/crates/core/tests/golden/*.json "$here/crates/core/tests/golden/"
  cp "$ref"/test/golden/native.json "$ref"/test/golden/wasm.json "$here/test/golden/"
fi

echo "golden-fixtures: the reference reproduces its fixtures (sequential and parallel builds)"
(cd "$ref" && cargo test -q -p autobalance-core --release --test golden)
(cd "$ref" && cargo test -q -p autobalance-core --release --features parallel --test golden)
echo "golden-fixtures: done; changed fixtures:"
git -C "$here" status --short -- crates/core/tests/golden test/golden
