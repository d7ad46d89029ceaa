#!/usr/bin/env bash
# The stateful fuzzer (programs/xmargin/tests/fuzz.rs): random sequences of every action through
# the real program in the in-process runtime, every invariant checked after every step.
#   scripts/fuzz.sh [SEQUENCES] [OPERATIONS]   (default 32 sequences of up to 60 operations)
# XMARGIN_FUZZ_SEED picks the sequences (default 2026: the same run every time); SBF_OUT_DIR
# pointing at a built xmargin.so runs it in the SBF VM (compute metered). A failure is shrunk
# to a minimal sequence and printed; XMARGIN_FUZZ_FIRST=N XMARGIN_FUZZ_SHRINK=0 with N+8 sequences
# replays one batch of a long run alone. The last line is
# "fuzz: S sequences, I instructions, C invariant checks, V violations".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export RUST_LOG="${RUST_LOG:-error}"
export XMARGIN_FUZZ_SEQUENCES="${1:-${XMARGIN_FUZZ_SEQUENCES:-32}}"
export XMARGIN_FUZZ_OPERATIONS="${2:-${XMARGIN_FUZZ_OPERATIONS:-60}}"
log=$(mktemp)
status=0
start=$(date +%s)
# The program's own log lines go to stdout natively: kept out of the terminal.
cargo test -p xmargin --locked --test fuzz -- --nocapture random_sequences >"$log" 2>&1 ||
  status=$?
if [ "$status" -ne 0 ]; then
  grep -v -E '^(Instruction: |AnchorError |Program )' "$log" | tail -150
fi
grep -E '^fuzz: ([0-9]+ liquidation probes|accepted/refused)' "$log" || true
echo "fuzz: seed ${XMARGIN_FUZZ_SEED:-2026}, $(( $(date +%s) - start )) s"
grep -E '^fuzz: [0-9]+ sequences' "$log" | tail -1 ||
  echo "fuzz: 0 sequences, 0 instructions, 0 invariant checks, 1 violations"
rm -f "$log"
exit "$status"
