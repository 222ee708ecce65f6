#!/usr/bin/env bash
# Build the N-API addon (crates/node, napi-rs) with @napi-rs/cli, release profile, into
#   packages/autobalance/native/autobalance.node   (+ autobalance.d.ts, the generated binding types)
# Incremental: cargo rebuilds only what changed; a second run only re-copies the artifact.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

napi="$root/node_modules/.bin/napi"
if [ ! -x "$napi" ]; then
  echo "build-native: @napi-rs/cli is not installed (node_modules/.bin/napi); run 'pnpm install' or scripts/setup.sh" >&2
  exit 1
fi

out="$root/packages/autobalance/native"
mkdir -p "$out"
echo "build-native: cargo build --release -p autobalance-node (via napi build)"
# --cwd: the napi config (binaryName "autobalance") is in crates/node/package.json.
"$napi" build --cwd crates/node --release --output-dir "$out" --dts autobalance.d.ts
test -f "$out/autobalance.node" || { echo "build-native: $out/autobalance.node was not produced" >&2; exit 1; }
# Strip the copy, not via `napi build --strip`: that adds `-C link-arg=-s` to RUSTFLAGS, which makes
# every plain `cargo build/test --release` in the same target/ rebuild all dependencies (and back).
if command -v strip >/dev/null 2>&1; then strip --strip-unneeded "$out/autobalance.node"; fi
echo "build-native: $(du -h "$out/autobalance.node" | cut -f1) packages/autobalance/native/autobalance.node"
