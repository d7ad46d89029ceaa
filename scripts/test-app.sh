#!/usr/bin/env bash
# The frontend side: builds the margin preview to WebAssembly (scripts/build-wasm.sh), installs
# app/'s locked npm dependencies, then `npm test` in app/: the TypeScript SDK against the Rust
# SDK's golden vectors and the demo's account bytes, the bootstrap dry run, and the dashboard in
# headless Chromium (its figures against the Rust engine's; screenshot to docs/dashboard.png).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
need_apt=()
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
bash scripts/build-wasm.sh
cd app
npm ci --no-audit --no-fund --loglevel=error
npm test
