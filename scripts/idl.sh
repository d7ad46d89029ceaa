#!/usr/bin/env bash
# Regenerates the program's Anchor IDL into app/sdk/src/idl/xmargin.json (`--check`: fail when the
# committed file is out of date).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo run -q --locked -p xmargin-idl -- "$@"
