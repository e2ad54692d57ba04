#!/usr/bin/env bash
# Long-run memory: stub + fault proxy + demo service + load engine in one process, 2,000
# requests/s over 10,000,000 distinct ids, sampling RSS and open descriptors every 10 s.
# Fails if RSS grows more than SOAK_MAX_GROWTH_MB (default 8) after warm-up (the first fifth
# of the run, at least a minute), judged on the trend: the median of the last quarter of the
# samples against the first. Best on an otherwise idle machine: under CPU contention the
# open model's worker pool grows (and retires again), which shows as noise.
# Usage: bench/soak.sh [DURATION]   (default 10m; e.g. 2m for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "$0")/lib.sh"
duration=${1:-10m}
max_growth_mb=${SOAK_MAX_GROWTH_MB:-8}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cat > "$scratch/soak.toml" <<TOML
name = "soak"
request_timeout = "2s"

[parts]
stub = true
proxy = true
demo = true

[[requests]]
name = "item"
path = "/api/item/{{random_int 1 10000000}}"

[[phases]]
name = "soak"
executor = "constant-arrival-rate"
rate = 2000
max_vus = 200
duration = "$duration"
TOML
"$bin" run "$scratch/soak.toml" --quiet --out "$scratch/result.json" > "$scratch/summary.txt" &
pid=$!
printf '%-8s %-10s %-6s\n' t_s rss_mb fds
samples=()
start=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
  t=$((SECONDS - start))
  if [[ -r /proc/$pid/status ]]; then
    rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    if [[ -n "$rss_kb" ]]; then
      printf '%-8s %-10s %-6s\n' "$t" "$((rss_kb / 1024))" "$fds"
      samples+=("$t:$rss_kb")
    fi
  fi
  sleep 10
done
wait "$pid" || true
python3 - "$scratch/result.json" "$max_growth_mb" "${samples[@]}" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
limit = float(sys.argv[2])
samples = [tuple(map(int, s.split(":"))) for s in sys.argv[3:]]
span = samples[-1][0] if samples else 0
warm_up = max(60, span // 5)
after = [kb for t, kb in samples if t >= warm_up]
p = result["phases"][0]
print(f'achieved {p["rps"]} req/s, {p["all"]["requests"]} requests, errors {p["all"]["errors"]}, '
      f'dropped {p["dropped"]}, p99 {p["all"]["latency_ms"]["p99"]} ms')
if len(after) < 8:
    print("too short to judge growth (needs samples well after the first minute)")
    sys.exit(0)
# Growth is the trend, not the noise: the median of the last quarter of the samples after
# warm-up against the median of the first quarter. The allocator returns memory in steps,
# so single samples swing a few MB either way without anything accumulating.
quarter = max(2, len(after) // 4)
median = lambda xs: sorted(xs)[len(xs) // 2] / 1024
first, last = median(after[:quarter]), median(after[-quarter:])
growth = last - first
print(f"RSS after warm-up ({warm_up} s): median {first:.1f} MB at the start, {last:.1f} MB at the end, "
      f"peak {max(after) / 1024:.1f} MB; growth {growth:.1f} MB (limit {limit} MB)")
sys.exit(0 if growth <= limit else 1)
PY
