#!/usr/bin/env bash
# Builds the SBF program and regenerates docs/compute-units.md from the SBF-mode run of
# programs/xmargin/tests/compute_units.rs (which also asserts the CU ceilings).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/build-sbf.sh
export RUST_LOG="${RUST_LOG:-solana_runtime=warn,solana_program_test=warn}"
SBF_OUT_DIR="$PWD/target/deploy" XMARGIN_CU_TABLE="$PWD/docs/compute-units.md" \
  cargo test -p xmargin --locked --test compute_units -- --nocapture
echo "wrote docs/compute-units.md"
