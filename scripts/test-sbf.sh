#!/usr/bin/env bash
# The program's integration tests in SBF mode: builds target/deploy/xmargin.so (scripts/build-sbf.sh)
# and runs every programs/xmargin test with solana-program-test loading it into the SBF VM, CU
# metered (tests/compute_units.rs asserts the CU ceilings here), in the default 32 KB heap. Same
# code base as native mode. Then the compute-unit scenario once more on a `heap-report` build,
# which asserts the heap budget. The largest stack frame is checked too (scripts/sbf-stack.sh).
# Ends with "sbf tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/build-sbf.sh
status=0
bash scripts/sbf-stack.sh || status=$?
export RUST_LOG="${RUST_LOG:-solana_runtime=warn,solana_program_test=warn}"
log=$(mktemp)
SBF_OUT_DIR="$PWD/target/deploy" cargo test -p xmargin --locked "$@" 2>&1 | tee "$log" || status=$?
heap_dir="$PWD/target/deploy-heap-report"
SBF_OUT_DIR="$heap_dir" bash scripts/build-sbf.sh --features heap-report
SBF_OUT_DIR="$heap_dir" cargo test -p xmargin --locked --test compute_units 2>&1 | tee -a "$log" ||
  status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "sbf tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
