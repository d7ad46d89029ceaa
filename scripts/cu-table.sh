#!/usr/bin/env bash
# Regenerates docs/compute-units.md from SBF-mode runs of programs/xmargin/tests/compute_units.rs:
# first a `heap-report` build (each instruction logs its heap use; the run asserts the heap
# budget and keeps the figures), then the plain build (the CU figures, with the CU budgets
# asserted, and the heap column from the first run), and its largest stack frame.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export RUST_LOG="${RUST_LOG:-solana_runtime=warn,solana_program_test=warn}"
heap_dir="$PWD/target/deploy-heap-report"
figures=$(mktemp)
trap 'rm -f "$figures"' EXIT
SBF_OUT_DIR="$heap_dir" bash scripts/build-sbf.sh --features heap-report
SBF_OUT_DIR="$heap_dir" XMARGIN_HEAP_FIGURES="$figures" \
  cargo test -p xmargin --locked --test compute_units -- --nocapture
bash scripts/build-sbf.sh
SBF_OUT_DIR="$PWD/target/deploy" XMARGIN_CU_TABLE="$PWD/docs/compute-units.md" \
  XMARGIN_HEAP_FIGURES="$figures" \
  cargo test -p xmargin --locked --test compute_units -- --nocapture
stack=$(bash scripts/sbf-stack.sh)
cat >> docs/compute-units.md <<EOF

## Stack

${stack#largest stack frame: }: the largest stack frame of the build, its deepest local in the
disassembly (\`bash scripts/sbf-stack.sh\`, which the SBF-mode test run also checks). SBPF v0
gives every function a 4,096-byte frame; arguments past the fifth take its lowest bytes.
EOF
echo "wrote docs/compute-units.md"
