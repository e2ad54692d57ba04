#!/usr/bin/env bash
# Memory at 10,000 virtual users: `breakerbox load --vus 10000 --think 1s-5s` against nginx
# for 65 s (the users start over the first 5 s, then all 10,000 hold for 60 s). Peak RSS must
# stay under 250 MB. Bytes per VU = (peak at 10,000 VUs - peak at 1 VU) / 10,000.
# Usage: bench/memory.sh [OUT.md]   (env: VUS=10000 HOLD=60)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
vus=${VUS:-10000}
hold=${HOLD:-60}
limit_mb=250
out=${1:-}
ensure_tools
scratch=$(mktemp -d)
trap 'stop_nginx; rm -rf "$scratch"' EXIT
ulimit -n "$(ulimit -Hn)"
port=$(free_port)
start_nginx "$port" "$scratch/nginx"
url="http://127.0.0.1:$port/"

# Runs quick mode with $1 users for $2 seconds; prints the peak RSS in KiB, keeps the report.
peak_rss() {
  /usr/bin/time -o "$scratch/time" -f '%M' "$bin" load "$url" --vus "$1" --think 1s-5s \
    -d "$2s" --json > "$scratch/report-$1.json"
  tail -1 "$scratch/time"
}
one=$(peak_rss 1 10)
many=$(peak_rss "$vus" $((hold + 5)))

summary=$(python3 - "$scratch/report-$vus.json" "$one" "$many" "$vus" "$limit_mb" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
one, many, vus, limit = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
per_vu = (many - one) * 1024 / vus
print(f"| VUs | peak RSS | bytes per VU | req/s | requests | errors | p50 ms | p90 ms | p99 ms | max ms |")
print(f"|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
print(f"| 1 | {one / 1024:.1f} MB | | | | | | | | |")
print(f"| {vus} | {many / 1024:.1f} MB | {per_vu:,.0f} | {r['rps']} | {r['requests']} | {r['errors']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} |")
verdict = "pass" if many / 1024 < limit else "FAIL"
print(f"\n**Peak {many / 1024:.0f} MB at {vus} VUs (limit {limit} MB): {verdict}; {per_vu:,.0f} bytes per VU.**")
PY
)
summary="Command: \`bench/memory.sh\` (part of \`make bench\`): \`breakerbox load URL --vus $vus --think
1s-5s -d $((hold + 5))s\` against nginx (1 worker, \`return 200\`); the users start over the first
5 s (the longest pause), then hold for ${hold} s. Peak RSS from GNU time; bytes per VU against a
1-VU run. Machine: $(machine).

$summary"
echo "$summary"
[[ -n "$out" ]] && echo "$summary" > "$out"
exit 0
