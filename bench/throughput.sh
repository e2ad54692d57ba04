#!/usr/bin/env bash
# Throughput at 50 connections against one nginx (1 worker, `return 200`) on loopback:
# wrk, oha and `breakerbox load -c 50`, alternating, ROUNDS times; medians and ratios.
# Usage: bench/throughput.sh [OUT.md]   (env: ROUNDS=5 DURATION=10s CONNECTIONS=50)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rounds=${ROUNDS:-5}
duration=${DURATION:-10s}
conns=${CONNECTIONS:-50}
out=${1:-}
ensure_tools
scratch=$(mktemp -d)
trap 'stop_nginx; rm -rf "$scratch"' EXIT
port=$(free_port)
start_nginx "$port" "$scratch/nginx"
url="http://127.0.0.1:$port/"
threads=$(nproc)

# Prints "REQ_PER_S PEAK_RSS_KB" for one run of tool $1.
run_tool() {
  local log="$scratch/$1.out" rss
  case $1 in
    wrk)
      /usr/bin/time -o "$scratch/time" -f '%M' wrk -t"$threads" -c"$conns" -d"$duration" "$url" > "$log"
      rps=$(awk '/^Requests\/sec:/ {print $2}' "$log") ;;
    oha)
      /usr/bin/time -o "$scratch/time" -f '%M' "$oha" -z "$duration" -c "$conns" --no-tui --output-format json "$url" > "$log"
      rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"], 1))' "$log") ;;
    breakerbox)
      /usr/bin/time -o "$scratch/time" -f '%M' "$bin" load "$url" -c "$conns" -d "$duration" --json > "$log"
      rps=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"] == 0, r; print(r["rps"])' "$log") ;;
  esac
  rss=$(tail -1 "$scratch/time")
  echo "$rps $rss"
}

tools_order=(wrk oha breakerbox)
declare -A rps_of rss_of
printf '%-6s %-11s %-12s %s\n' round tool req_per_s peak_rss_mb
for ((round = 1; round <= rounds; round++)); do
  for ((i = 0; i < 3; i++)); do
    tool=${tools_order[$(((i + round - 1) % 3))]}
    read -r rps rss < <(run_tool "$tool")
    rps_of[$tool]="${rps_of[$tool]:-} $rps"
    rss_of[$tool]="${rss_of[$tool]:-} $rss"
    printf '%-6s %-11s %-12s %s\n' "$round" "$tool" "$rps" "$((rss / 1024))"
    sleep 1
  done
done

# shellcheck disable=SC2086
{
  m_wrk=$(median ${rps_of[wrk]}); m_oha=$(median ${rps_of[oha]}); m_bb=$(median ${rps_of[breakerbox]})
  r_wrk=$(median ${rss_of[wrk]}); r_oha=$(median ${rss_of[oha]}); r_bb=$(median ${rss_of[breakerbox]})
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
summary=$(cat <<MD
Command: \`bench/throughput.sh\` (part of \`make bench\`): nginx with 1 worker answering
\`return 200\` on loopback; \`wrk -t$threads -c$conns -d$duration\`, \`oha -z $duration -c $conns\`
and \`breakerbox load URL -c $conns -d $duration\` (release build) run one after another, the
order rotating each round, $rounds rounds. Medians:

| tool | req/s (median) | all rounds | peak RSS (median) |
|---|--:|---|--:|
| wrk | $(printf '%.0f' "$m_wrk") | ${rps_of[wrk]# } | $((${r_wrk%.*} / 1024)) MB |
| oha | $(printf '%.0f' "$m_oha") | ${rps_of[oha]# } | $((${r_oha%.*} / 1024)) MB |
| breakerbox | $(printf '%.0f' "$m_bb") | ${rps_of[breakerbox]# } | $((${r_bb%.*} / 1024)) MB |

**breakerbox / wrk = $(ratio "$m_bb" "$m_wrk"), breakerbox / oha = $(ratio "$m_bb" "$m_oha")**
(target: ≥ 1.00 and ≥ 1.10). Machine: $(machine).
MD
)
echo
echo "$summary"
[[ -n "$out" ]] && echo "$summary" > "$out"
exit 0
