#!/usr/bin/env bash
# The handwritten digits of Figure 6.3 (c, d) (presets figure63c, figure63d; MNIST cannot be
# downloaded here): scikit-learn's bundled 8 x 8 digits (1797 images, BSD-3-Clause, the UCI
# "Optical Recognition of Handwritten Digits" test set), taken from the scikit-learn wheel on
# PyPI (nothing is installed: the wheel is a zip, one file is extracted with Python's zipfile)
# into data/digits.csv (git-ignored): 1797 lines, 64 pixels 0..16 then the label 0..9.
# Idempotent: skips when data/digits.csv exists with the expected sha256. Run by scripts/setup.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/data/digits.csv"
version="1.5.2"                      # scikit-learn, pinned
sha="6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8"   # of the extracted csv
python="${PYTHON:-python3}"

have_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha" ]; }
if have_sha "$out"; then
  echo "digits: $out present (sha256 ok)"
  exit 0
fi
command -v "$python" >/dev/null 2>&1 || { echo "digits: ERROR: $python not found (needed to run pip download)" >&2; exit 1; }
mkdir -p "$root/data"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "digits: pip download scikit-learn==$version (wheel only, no install)"
"$python" -m pip download --quiet --no-deps --only-binary=:all: "scikit-learn==$version" -d "$tmp"
"$python" - "$tmp" "$tmp/digits.csv" <<'PY'
import glob, gzip, sys, zipfile
wheels = glob.glob(sys.argv[1] + "/scikit_learn-*.whl")
if len(wheels) != 1:
    sys.exit(f"digits: expected one scikit-learn wheel, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z:
    data = gzip.decompress(z.read("sklearn/datasets/data/digits.csv.gz"))
open(sys.argv[2], "wb").write(data)
PY
have_sha "$tmp/digits.csv" || { echo "digits: ERROR: sha256 of the extracted csv is $(sha256sum "$tmp/digits.csv" | cut -d' ' -f1), expected $sha" >&2; exit 1; }
mv "$tmp/digits.csv" "$out"
echo "digits: wrote $out (1797 images, sha256 ok)"
