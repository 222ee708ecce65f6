#!/usr/bin/env bash
# The browser end-to-end test of the demo page (packages/demo): a production build with Vite, then
# test/e2e/demo.e2e.mjs serves it on localhost and drives it in Debian's chromium (playwright-core).
# Assumes set-up is done (scripts/setup.sh: pnpm deps, the wasm module, the TS package, chromium).
# Screenshots land in out/e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "e2e: building the demo page (vite build -> packages/demo/dist)"
pnpm --filter autobalance-demo build >/dev/null
node test/e2e/demo.e2e.mjs
node test/e2e/sweep.e2e.mjs
