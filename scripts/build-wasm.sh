#!/usr/bin/env bash
# Builds crates/wasm (the SDK's margin preview: the program's own check) to WebAssembly, into
# app/dashboard/public/xmargin.wasm, where the dashboard and the TypeScript SDK's tests load it.
# With the host's toolchain when it has the wasm32-unknown-unknown target (`rustup target add
# wasm32-unknown-unknown`); otherwise inside the Debian sid chroot of the SBF route (scripts/sbf,
# ${SBF_HOME:-/var/cache/sbf-upstream}; needs root), whose rustc gets Debian's wasm32 std.
# The cargo target dir stays outside the clone so repeated runs are warm.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
WS=$PWD
OUT=$WS/app/dashboard/public/xmargin.wasm
TD=${XMARGIN_WASM_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/xmargin-wasm-target}
mkdir -p "$TD"
# A small, fast module; fat LTO over the Solana crates costs minutes for little.
BUILD=(cargo build --release --locked --target wasm32-unknown-unknown -p xmargin-wasm
  --config 'profile.release.lto="thin"' --config 'profile.release.codegen-units=16')

if rustc --print sysroot >/dev/null 2>&1 && [ -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
  echo "[build-wasm] host toolchain"
  CARGO_TARGET_DIR=$TD "${BUILD[@]}"
else
  echo "[build-wasm] Debian sid chroot (scripts/sbf)"
  bash scripts/sbf/setup
  SBF_HOME=${SBF_HOME:-/var/cache/sbf-upstream}
  ROOT=$SBF_HOME/sid
  if [ ! -d "$ROOT/usr/lib/rustlib/wasm32-unknown-unknown" ]; then
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Acquire::Check-Valid-Until=false libstd-rust-dev-wasm32 >/dev/null
  fi
  CH=${CARGO_HOME:-$HOME/.cargo}
  # A private mount namespace: the bind mounts vanish when the build exits.
  unshare --mount --propagation private -- bash -euc '
    R=$1 WS=$2 CH=$3 TD=$4; shift 4
    mount --bind /proc "$R/proc"; mount --rbind /dev "$R/dev"
    mkdir -p "$R$WS" "$R$TD" "$R/root/.cargo/registry"
    mount --bind "$WS" "$R$WS"; mount --bind "$TD" "$R$TD"
    mount --bind "$CH/registry" "$R/root/.cargo/registry"
    exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin \
      SSL_CERT_FILE=/usr/local/share/host-ca-bundle.crt CARGO_HTTP_CAINFO=/usr/local/share/host-ca-bundle.crt \
      CARGO_TERM_COLOR=never CARGO_TARGET_DIR="$TD" bash -euc "cd \"$WS\"
        # Debian ships rustc without rust-lld: link with the LLVM wasm-ld.
        if ! command -v rust-lld >/dev/null; then
          export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=\$(ls /usr/bin/wasm-ld-* /usr/bin/wasm-ld 2>/dev/null | head -n1)
        fi
        exec \"\$@\"" _ "$@"' \
    _ "$ROOT" "$WS" "$CH" "$TD" "${BUILD[@]}"
fi
cp "$TD/wasm32-unknown-unknown/release/xmargin_wasm.wasm" "$OUT"
echo "[build-wasm] $OUT ($(stat -c %s "$OUT") bytes)"
