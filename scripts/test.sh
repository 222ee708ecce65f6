#!/usr/bin/env bash
# Every test: set up (idempotent), then the Rust core (sequential and parallel builds, clippy),
# then the API reference's freshness (TypeDoc), then the TypeScript suite against the native backend
# and against the wasm backend, then the threaded wasm module (built here; its parity test and
# the core suites on a pool of 2 workers), then the demo page in a real browser (Debian chromium driven by
# playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
step() { printf '\n== %s\n' "$*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (core, node; -D warnings)"
cargo clippy -q -p autobalance-core --all-targets --features parallel -- -D warnings
cargo clippy -q -p autobalance-node -- -D warnings
step "cargo test: core, sequential (the wasm configuration)"
cargo test -q -p autobalance-core --profile ci
step "cargo test: core, parallel (the native configuration)"
cargo test -q -p autobalance-core --profile ci --features parallel
step "API reference: docs/reference matches the TSDoc (scripts/check-docs.sh)"
bash scripts/check-docs.sh
step "vitest: native backend"
AUTOBALANCE_BACKEND=native pnpm exec vitest run
step "vitest: wasm backend"
AUTOBALANCE_BACKEND=wasm pnpm exec vitest run
step "wasm with threads: build the threaded module (AUTOBALANCE_WASM_THREADS=only scripts/build-wasm.sh)"
AUTOBALANCE_WASM_THREADS=only bash scripts/build-wasm.sh
step "vitest: the threaded wasm module (same bits as the single-threaded one; the core suites on 2 workers)"
AUTOBALANCE_REQUIRE_WASM_THREADS=1 AUTOBALANCE_BACKEND=wasm pnpm exec vitest run test/wasm-threads.test.ts
AUTOBALANCE_WASM_THREADS=2 AUTOBALANCE_BACKEND=wasm pnpm exec vitest run test/golden.test.ts test/parity.test.ts test/curvature.test.ts test/networks.test.ts test/study.test.ts test/api.test.ts test/backend-load.test.ts test/wasm-threads.test.ts
step "browser e2e: the demo page in chromium (scripts/e2e.sh)"
bash scripts/e2e.sh
step "all tests passed"
