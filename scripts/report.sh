#!/usr/bin/env bash
# Regenerates docs/risk-report.md (the main job until the demo exists); with --check, fails when
# the committed report differs from a fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=$(mktemp)
cargo run --quiet --locked --release -p xmargin-risk --features op-count --example risk_report > "$out"
if [ "${1:-}" = "--check" ]; then
  if ! diff -u docs/risk-report.md "$out"; then
    echo "docs/risk-report.md is out of date: run scripts/report.sh" >&2
    exit 1
  fi
  echo "docs/risk-report.md is up to date"
else
  mkdir -p docs
  mv "$out" docs/risk-report.md
  cat docs/risk-report.md
fi
