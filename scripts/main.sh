#!/usr/bin/env bash
# The main job: set up everything (idempotent), then reproduce Figure 1 of Du, Hu & Lee (2018).
# Writes out/figure1/figure1.svg (the plot), figure1.csv and figure1.json, and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node packages/autobalance/dist/cli.js run figure1 --out out/figure1 "$@"
