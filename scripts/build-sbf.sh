#!/usr/bin/env bash
# Builds programs/xmargin to target/deploy/xmargin.so (or $SBF_OUT_DIR); extra arguments go to
# cargo (e.g. `--features heap-report`).
# With the official toolchain (`cargo build-sbf`) when the machine has it; otherwise through the
# upstream route in scripts/sbf (Debian sid chroot with LLVM 23 + sbpf-linker, cached in
# ${SBF_HOME:-/var/cache/sbf-upstream}, outside the clone; needs root). CU figures from the
# upstream route are indicative: its code generation differs from platform-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SBF_OUT_DIR:-$PWD/target/deploy}
if command -v cargo-build-sbf >/dev/null 2>&1 || cargo build-sbf --version >/dev/null 2>&1; then
  echo "[build-sbf] cargo build-sbf (official platform-tools)"
  cargo build-sbf --manifest-path programs/xmargin/Cargo.toml --sbf-out-dir "$out" "$@"
else
  echo "[build-sbf] upstream LLVM route (scripts/sbf)"
  bash scripts/sbf/setup
  bash scripts/sbf/build programs/xmargin "$out" -- "$@"
fi
ls -l "$out/xmargin.so"
