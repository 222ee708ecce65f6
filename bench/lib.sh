# Shared set-up of the bench scripts (bench/*/run.sh source it). Not part of scripts/test.sh.

# bench_venv NAME VENV REQUIREMENTS [EXTRA_PIP_ARGS...]: create (idempotently) the bench-only
# Python venv VENV and install REQUIREMENTS (PyPI) into it when their checksum changed.
bench_venv() {
  local name="$1" venv="$2" req="$3"
  shift 3
  local stamp="$venv/.requirements.sha256" sum
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "bench/$name: creating Python venv at $venv" >&2
    python3 -m venv "$venv"
  fi
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
    echo "bench/$name: installing $req $* into $venv (PyPI)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" "$@"
    echo "$sum" >"$stamp"
  fi
}

# bench_builds NAME ROOT: from a clean checkout the build outputs are missing: scripts/setup.sh
# (idempotent) installs the JS toolchain and builds the addon, the wasm module and
# packages/autobalance/dist.
bench_builds() {
  local name="$1" root="$2"
  if [[ ! -f "$root/packages/autobalance/native/autobalance.node" || ! -f "$root/packages/autobalance/wasm/autobalance_wasm_bg.wasm" || ! -f "$root/packages/autobalance/dist/index.js" ]]; then
    echo "bench/$name: build outputs missing: running scripts/setup.sh" >&2
    bash "$root/scripts/setup.sh"
  fi
  if [[ ! -f "$root/packages/autobalance/dist/index.js" ]]; then
    echo "bench/$name: building packages/autobalance/dist (tsc)" >&2
    (cd "$root/packages/autobalance" && npx tsc -p tsconfig.json)
  fi
}
