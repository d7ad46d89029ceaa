#!/usr/bin/env bash
# The largest stack frame of an SBF build (default target/deploy/xmargin.so), read off its
# disassembly, and a check against a budget (STACK_BUDGET bytes, default 3584 of the 4096-byte
# frame). Prints "largest stack frame: N bytes of 4096 (budget B)"; exits 1 over budget.
#
# In SBPF v0 every function has a fixed 4 KB frame addressed down from r10. Locals sit at
# r10 - offset; arguments past the fifth are written by the caller into the bottom of the
# callee's frame (the callee only loads them, at r10 - 4088 and up). The frame a function uses
# is its deepest local: the largest r10 - offset the program stores to, or loads from below
# the argument area.
set -euo pipefail
cd "$(dirname "$0")/.."
so=${1:-target/deploy/xmargin.so}
budget=${STACK_BUDGET:-3584}
[ -f "$so" ] || { echo "no $so: build it first (scripts/build-sbf.sh)" >&2; exit 2; }
sbf_root=${SBF_HOME:-/var/cache/sbf-upstream}/sid
disassembly=$(mktemp)
trap 'rm -f "$disassembly"' EXIT
if command -v llvm-objdump >/dev/null 2>&1 && llvm-objdump --version | grep -qi bpf; then
  llvm-objdump -d "$so" > "$disassembly"
elif [ -x "$sbf_root/usr/bin/llvm-objdump-23" ]; then
  # The upstream route's chroot (scripts/sbf) has LLVM 23's objdump.
  copy="$sbf_root/tmp/stack-check.so"
  cp "$so" "$copy"
  chroot "$sbf_root" llvm-objdump-23 -d /tmp/stack-check.so > "$disassembly"
  rm -f "$copy"
else
  echo "no llvm-objdump with BPF support: cannot read the stack frames" >&2
  exit 2
fi
python3 - "$disassembly" "$budget" <<'PY'
import re, sys

FRAME = 4096
# Stack arguments occupy the frame's lowest bytes; five or more would start at FRAME - 8 x n.
ARGUMENT_AREA = FRAME - 8 * 8
# Offsets print in hex (LLVM 23) or decimal (older objdumps).
access = re.compile(r"^\s*\d+:.*?\*\(u\d+ \*\)\(r10 - (0x[0-9a-f]+|\d+)\)(\s*=)?")
deepest_store, deepest_load_below_arguments, argument_stores = 0, 0, 0
for line in open(sys.argv[1], encoding="utf-8"):
    match = access.match(line)
    if not match:
        continue
    offset = int(match.group(1), 0)
    is_store = match.group(2) is not None
    if is_store:
        deepest_store = max(deepest_store, offset)
        if offset > ARGUMENT_AREA:
            argument_stores += 1
    elif offset <= ARGUMENT_AREA:
        deepest_load_below_arguments = max(deepest_load_below_arguments, offset)
largest = max(deepest_store, deepest_load_below_arguments)
budget = int(sys.argv[2])
print(f"largest stack frame: {largest} bytes of {FRAME} (budget {budget})")
if argument_stores:
    print(f"{argument_stores} stores into the argument area: a frame reaches it", file=sys.stderr)
    sys.exit(1)
if largest > budget:
    print(f"stack frame over budget: {largest} > {budget}", file=sys.stderr)
    sys.exit(1)
PY
