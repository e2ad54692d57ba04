#!/usr/bin/env bash
# Runs bench/throughput.toml at rising arrival rates and prints one line per rate.
# Usage: bench/run.sh [RATE...]   (default: 1000 3000 6000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "$0")/lib.sh"
rates=("$@")
[[ ${#rates[@]} -gt 0 ]] || rates=(1000 3000 6000 10000)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '%-8s %-10s %-9s %-9s %-9s %-11s %-11s %-7s %-8s %s\n' rate achieved p50_ms p95_ms p99_ms svc_p50_ms svc_p99_ms errors dropped cpu_s
for rate in "${rates[@]}"; do
  sed "s/^rate = .*/rate = $rate/" bench/throughput.toml > "$scratch/drill.toml"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cpu=$( { /usr/bin/time -f '%U %S' "$bin" run "$scratch/drill.toml" --quiet \
      --proxy-listen "127.0.0.1:$port" --target "http://127.0.0.1:$port" \
      --out "$scratch/result.json" >/dev/null; } 2>&1 | awk '{print $1 + $2}')
  python3 - "$scratch/result.json" "$rate" "$cpu" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["phases"][0]
l = p["all"]["latency_ms"]
s = p["all"]["service_ms"]
print(f'{sys.argv[2]:<8} {p["rps"]:<10} {l["p50"]:<9} {l["p95"]:<9} {l["p99"]:<9} {s["p50"]:<11} {s["p99"]:<11} {p["all"]["errors"]:<7} {p["dropped"]:<8} {sys.argv[3]}')
PY
done
