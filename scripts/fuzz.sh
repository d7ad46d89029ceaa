#!/usr/bin/env bash
# The stateful fuzzer (programs/xmargin/tests/fuzz.rs): random sequences of every action through
# the real program in the in-process runtime, every invariant checked after every step.
#   scripts/fuzz.sh [SEQUENCES] [OPERATIONS]   (default 8 sequences of up to 40 operations)
# XMARGIN_FUZZ_SEED picks the sequences (default 2026: the same run every time); SBF_OUT_DIR
# pointing at a built xmargin.so runs it in the SBF VM (compute metered). A failure is shrunk
# to a minimal sequence and printed. Ends with
# "fuzz: S sequences, I instructions, C invariant checks, V violations".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export RUST_LOG="${RUST_LOG:-solana_runtime=warn,solana_program_test=warn}"
export XMARGIN_FUZZ_SEQUENCES="${1:-${XMARGIN_FUZZ_SEQUENCES:-8}}"
export XMARGIN_FUZZ_OPERATIONS="${2:-${XMARGIN_FUZZ_OPERATIONS:-40}}"
log=$(mktemp)
status=0
start=$(date +%s)
cargo test -p xmargin --locked --test fuzz -- --nocapture random_sequences 2>&1 | tee "$log" ||
  status=$?
echo "fuzz: took $(( $(date +%s) - start )) s"
grep -E '^fuzz: [0-9]+ sequences' "$log" | tail -1 || echo "fuzz: 0 sequences, 0 instructions, 0 invariant checks, 1 violations"
rm -f "$log"
exit "$status"
