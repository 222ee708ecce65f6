#!/usr/bin/env bash
# Build the WebAssembly binding (crates/wasm, wasm-bindgen) into
#   packages/autobalance/wasm/autobalance_wasm.js + autobalance_wasm_bg.wasm (+ .d.ts)
# Node loads it with `initSync({ module: fs.readFileSync(<the .wasm>) })`; browsers with `init()`.
#
# Why cargo + wasm-bindgen directly (not wasm-pack) and why no wasm-opt: see the notes at the bottom.
#
# Toolchain (see shared TOOLCHAIN notes): the machine's rustup toolchain has no wasm32 standard
# library and cannot download one. If it does have `wasm32-unknown-unknown` installed we use it;
# otherwise Debian's rustc-web toolchain (/usr/bin/cargo, 1.96) compiles std from rust-web-src
# with -Zbuild-std (RUSTC_BOOTSTRAP=1 only for this command), linked with wasm-ld-19.
# The core's "parallel" feature is not enabled in this module (no threads).
#
# Threads (opt-in, Node only for now; scripts/test.sh builds it: docs/ARCHITECTURE.md, "The threaded wasm module"):
#   AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh      both modules
#   AUTOBALANCE_WASM_THREADS=only bash scripts/build-wasm.sh   only the threaded one
# adds a second pass: crates/wasm with feature `threads` (the core's rayon chunks on JS workers)
# and `+atomics,+bulk-memory,+mutable-globals,+simd128`, always with the Debian toolchain and
# -Zbuild-std (std itself must be compiled with atomics), in its own target dir target/wasm-threads
# (other RUSTFLAGS would rebuild std in target/wasm each time), into
#   packages/autobalance/wasm-threads/autobalance_wasm.js + autobalance_wasm_bg.wasm
# The shared-memory link args come from crates/wasm/build.rs (final link only: std stays cached).
# Opt-in because it roughly doubles the build (+~7-10 min on 2 cores) while nothing uses it by default.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target=wasm32-unknown-unknown
# A target dir of its own: the Debian toolchain must not invalidate the rustup builds in target/.
target_dir="$root/target/wasm"
out="$root/packages/autobalance/wasm"
simd="-C target-feature=+simd128"
threads="${AUTOBALANCE_WASM_THREADS:-0}"

die() { echo "build-wasm: $*" >&2; exit 1; }

case "$threads" in 0|1|only) ;; *) die "AUTOBALANCE_WASM_THREADS must be 0, 1 or only (got '$threads')";; esac

want="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
[ "$have" = "$want" ] || die "wasm-bindgen CLI ${have:-not found}, need $want (cargo install wasm-bindgen-cli --version $want; scripts/setup.sh)"

# bindgen WASM OUT LABEL: wasm-bindgen --target web into OUT.
bindgen() {
  mkdir -p "$2"
  echo "build-wasm: wasm-bindgen --target web ($3)"
  wasm-bindgen --target web --out-dir "$2" --out-name autobalance_wasm "$1"
  echo "build-wasm: $(du -h "$2/autobalance_wasm_bg.wasm" | cut -f1) ${2#"$root"/}/autobalance_wasm_bg.wasm"
}

debian_toolchain() {
  [ -x /usr/bin/cargo ] || die "/usr/bin/cargo missing: apt-get install rustc-web cargo-web rust-web-src lld-19 (scripts/setup.sh)"
  command -v wasm-ld-19 >/dev/null 2>&1 || die "wasm-ld-19 missing: apt-get install lld-19 (scripts/setup.sh)"
}

# The threaded module (second pass, opt-in). Built first when asked for alone.
build_threads() {
  debian_toolchain
  local tdir="$root/target/wasm-threads"
  echo "build-wasm: threaded module (feature threads, +atomics) with $(/usr/bin/cargo --version), -Zbuild-std"
  PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-C linker=wasm-ld-19 -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128" \
    /usr/bin/cargo build --release --target "$target" -p autobalance-wasm --features threads \
      --target-dir "$tdir" -Zbuild-std=std,panic_abort
  local w="$tdir/$target/release/autobalance_wasm.wasm"
  [ -f "$w" ] || die "$w was not produced"
  bindgen "$w" "$root/packages/autobalance/wasm-threads" threads
  # wasm-bindgen emits single-threaded glue without complaint when the memory is not shared
  # (the link args missing): make that an error.
  grep -q "shared: true\|shared:true" "$root/packages/autobalance/wasm-threads/autobalance_wasm.js" \
    || die "the threaded module's glue has no shared memory (link args of crates/wasm/build.rs not applied?)"
}

if [ "$threads" = only ]; then
  build_threads
  exit 0
fi

if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "build-wasm: rustup toolchain with $target"
  RUSTFLAGS="$simd" cargo build --release --target "$target" -p autobalance-wasm --target-dir "$target_dir"
else
  debian_toolchain
  echo "build-wasm: Debian rustc-web toolchain ($(/usr/bin/cargo --version)) with -Zbuild-std"
  # PATH puts /usr/bin first so that cargo runs Debian's rustc (not rustup's proxy) for every step.
  PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-C linker=wasm-ld-19 $simd" \
    /usr/bin/cargo build --release --target "$target" -p autobalance-wasm --target-dir "$target_dir" \
      -Zbuild-std=std,panic_abort
fi

wasm="$target_dir/$target/release/autobalance_wasm.wasm"
[ -f "$wasm" ] || die "$wasm was not produced"
bindgen "$wasm" "$out" single-threaded

if [ "$threads" = 1 ]; then
  build_threads
fi


# Why not wasm-pack (tried: wasm-pack 0.15.1, `cargo install wasm-pack --locked`, ~4 min on 2 cores):
# it runs exactly the two steps above and nothing else we need, and offline with the Debian
# toolchain it only works with every one of its own features switched off:
#   - its default mode stops with "wasm32-unknown-unknown target not found in sysroot: /usr"
#     (it looks for a prebuilt std in the sysroot; ours is built from source by -Zbuild-std), and
#     so does `--mode no-install`; only `--mode force` skips that check;
#   - its tool management (downloading prebuilt wasm-bindgen / wasm-opt binaries) cannot reach
#     the network here: it needs the matching wasm-bindgen already on PATH and `--no-opt`;
#   - it still needs PATH=/usr/bin:..., RUSTC, RUSTC_BOOTSTRAP and RUSTFLAGS set as above, and
#     `-- -Zbuild-std=std,panic_abort --target-dir ...` passed through, and `--no-pack` to keep a
#     stray package.json out of packages/autobalance/wasm.
# With all that it produced a byte-identical .wasm and .js; it would add a 4-minute install to
# every fresh machine (and CI) for no change in the output, so we call cargo + wasm-bindgen.
#
# Why no wasm-opt: measured again 2026-11-24 with wasm-opt 132 (npm `binaryen`), -O3/-O4/-Os/-Oz
# with the module's own features (table in bench/README.md, "wasm-opt"): results bit-identical,
# but every level 3-7% slower on the MF step at (1000,1000,5) and 1.5-4.5% on a network GD run
# (interleaved in one Node process; no change at (2000,1000,50)), and gzip -9 only 1.3-2% smaller
# than just dropping the name section (wasm-bindgen --remove-name-section: 325 -> 310 KB; -O3 304 KB).
# Raw size 1.14 MB -> 0.89-0.91 MB, mostly the 163 KB name section (kept: Rust names in wasm stack
# traces). Not worth a devDependency and 16-73 s per build.
