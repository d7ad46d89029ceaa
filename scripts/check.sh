#!/usr/bin/env bash
# Static checks: formatting, clippy with warnings as errors, and generated files up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
python3 scripts/gen_tables.py
git diff --exit-code -- crates/risk/src/tables.rs || {
  echo "crates/risk/src/tables.rs is out of date: run python3 scripts/gen_tables.py" >&2
  exit 1
}
