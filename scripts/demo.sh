#!/usr/bin/env bash
# The main job: `xmargin demo` on the in-process Solana runtime (native program; set
# SBF_OUT_DIR to a directory holding xmargin.so to run the SBF build instead).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo run --locked -q -p xmargin-cli --bin xmargin -- demo "$@"
