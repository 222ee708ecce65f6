#!/usr/bin/env bash
# One-time (and idempotent) set-up of a fresh machine for autobalance, then a full build.
# Target machine: Debian 12 as root, rustup stable (x86_64 only), Node >= 20 with npm; only the
# package registries (crates.io, npm, Debian, PyPI) are reachable. Every step skips what is already
# there; the builds are cargo/tsc incremental, so a second run takes seconds.
#
#   1. Debian's Rust toolchain with the std source + wasm-ld (for the wasm32 build; see build-wasm.sh)
#   2. wasm-bindgen-cli, the exact version of the wasm-bindgen crate pinned in Cargo.toml
#   3. pnpm, then `pnpm install` at the repo root (@napi-rs/cli, typescript, vitest, ...)
#   4. builds: native addon, wasm module, TS package, the demo page (Vite)
#   5. data/digits.csv: scikit-learn's 8 x 8 digits from its PyPI wheel (scripts/fetch-digits.sh)
#   (chromium from Debian, for the browser end-to-end test of the demo page)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step="start"
say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; echo "setup: FAILED during: $step (exit $rc)" >&2; exit $rc' ERR
t0=$SECONDS

# Cargo-installed tools land in ~/.cargo/bin.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step="checking prerequisites"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (stable) first"
command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 20 first"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js >= 20 (with npm) first"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js >= 20 required, found $(node --version)"

# 1. Debian packages: the wasm32 build (rustc-web 1.96 + std source, wasm-ld-19), the e2e
# browser, and gcc (the linker cargo uses, and the C part of the addon's allocator, mimalloc).
step="apt packages"
apt_missing=()
for p in rustc-web cargo-web rust-web-src lld-19 chromium gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$p")
done
if [ ${#apt_missing[@]} -eq 0 ]; then
  say "apt: rustc-web cargo-web rust-web-src lld-19 chromium gcc already installed"
else
  sudo_=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install ${apt_missing[*]}"
    sudo_="sudo"
  fi
  say "apt: installing ${apt_missing[*]}"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${apt_missing[@]}"
fi

# 2. wasm-bindgen-cli: must equal the pinned crate version (`wasm-bindgen = "=X"` in Cargo.toml).
step="wasm-bindgen-cli"
wb_version="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)"
[ -n "$wb_version" ] || die "could not read the pinned wasm-bindgen version from Cargo.toml"
if [ "$(wasm-bindgen --version 2>/dev/null || true)" = "wasm-bindgen $wb_version" ]; then
  say "wasm-bindgen $wb_version already installed"
else
  say "cargo install wasm-bindgen-cli $wb_version (compiles from crates.io, a few minutes)"
  if ! cargo install wasm-bindgen-cli --version "$wb_version" --locked; then
    # Its lockfile can name a dependency version the registry no longer serves (seen with
    # webpki-roots); resolve afresh instead.
    say "--locked install failed; retrying without --locked"
    cargo install wasm-bindgen-cli --version "$wb_version"
  fi
  [ "$(wasm-bindgen --version 2>/dev/null || true)" = "wasm-bindgen $wb_version" ] ||
    die "wasm-bindgen $wb_version is not on PATH after installing it"
fi

# 3. pnpm and the workspace's npm dependencies.
step="pnpm"
if command -v pnpm >/dev/null 2>&1; then
  say "pnpm $(pnpm --version) already installed"
else
  say "npm install -g pnpm@10"
  npm install -g pnpm@10 >/dev/null
  command -v pnpm >/dev/null 2>&1 || die "pnpm is not on PATH after npm install -g pnpm@10"
fi

step="pnpm install"
if [ -f pnpm-lock.yaml ]; then
  say "pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile --reporter=silent
else
  say "pnpm install (no pnpm-lock.yaml yet: it will be created)"
  pnpm install --reporter=silent
fi

# 4. Builds (each a no-op, or nearly, when up to date).
step="native build (scripts/build-native.sh)"
say "building the native addon"
bash scripts/build-native.sh

step="wasm build (scripts/build-wasm.sh)"
say "building the wasm module"
bash scripts/build-wasm.sh

step="TS build (pnpm --filter autobalance build)"
if [ -f packages/autobalance/package.json ]; then
  say "building the TS package"
  pnpm --filter autobalance build
else
  say "packages/autobalance/package.json not found: skipping the TS build"
fi

step="demo page build (pnpm --filter autobalance-demo build)"
if [ -f packages/demo/package.json ]; then
  say "building the demo page (packages/demo/dist)"
  pnpm --filter autobalance-demo build >/dev/null
fi

# 5. The digits of the figure63c/d presets (needs python3 with pip, and PyPI).
step="digits data (scripts/fetch-digits.sh)"
bash scripts/fetch-digits.sh

say "done in $((SECONDS - t0)) s"
