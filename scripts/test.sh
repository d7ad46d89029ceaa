#!/usr/bin/env bash
# The project's test command (README): every crate's unit, property and integration tests,
# including the program under the real Solana runtime (solana-program-test, native mode).
# Ends with one line totalling every test binary: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The runtime logs every instruction at debug level; RUST_LOG=debug brings that back.
export RUST_LOG="${RUST_LOG:-solana_runtime=warn,solana_program_test=warn}"
log=$(mktemp)
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
