#!/usr/bin/env bash
# Runs the criterion benchmark of the risk engine and records its figures in docs/benchmark.md,
# which the risk report embeds (rerun scripts/report.sh afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
raw=$(mktemp)
cargo bench --locked -p xmargin-risk --bench margin 2>&1 | tee "$raw"
python3 - "$raw" > docs/benchmark.md <<'PY'
import datetime, os, re, sys

lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
rows, name = [], None
for line in lines:
    m = re.match(r"^(\S+)?\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", line)
    if not m:
        if re.match(r"^\S+$", line.strip()) and "/" in line:
            name = line.strip()
        continue
    name = m.group(1) or name
    rows.append((name, f"{m.group(2)} {m.group(3)}", f"{m.group(4)} {m.group(5)}", f"{m.group(6)} {m.group(7)}"))

def micros(text):
    value, unit = text.split()
    return float(value) * {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}[unit]

cpu = "unknown CPU"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(f"Measured {datetime.date.today().isoformat()} by `scripts/bench.sh` (criterion) on {cpu}, {os.cpu_count()} cores, one thread.")
print()
print("| benchmark | low | estimate | high | per second |")
print("|---|---:|---:|---:|---:|")
for name, low, mid, high in rows:
    per_second = f"{1e6 / micros(mid):,.0f}"
    print(f"| {name} | {low} | {mid} | {high} | {per_second} |")
PY
rm -f "$raw"
cat docs/benchmark.md
