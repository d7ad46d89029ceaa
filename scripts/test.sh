#!/usr/bin/env bash
# The project's test command (README): every crate's unit, property and integration tests,
# including the program under the real Solana runtime (solana-program-test, native mode).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo test --workspace --locked "$@"
