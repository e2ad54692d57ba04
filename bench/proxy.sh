#!/usr/bin/env bash
# The fault proxy with no faults against going direct and against noxious 1.0.4 (a Rust
# port of Toxiproxy), in the same run, in front of one nginx (1 worker, a 2-byte body):
#   direct        wrk/oha → nginx
#   bb-http       wrk/oha → `breakerbox proxy --listen … --upstream …` (HTTP, parses) → nginx
#   bb-tcp        wrk/oha → a breakerbox TCP proxy made with its admin API (copies bytes) → nginx
#   noxious       wrk/oha → noxious 1.0.4 from crates.io, no toxics (copies bytes) → nginx
# 1. Throughput: `wrk -t2 -c50 -d10s --latency` on each, the order rotating, ROUNDS rounds.
# 2. Added latency: `oha -q 5000 -c 50 --latency-correction -z 10s` on each, rotating;
#    added p99 = the proxy's p99 − direct's p99 of the same round, median over the rounds.
# noxious-server is not on crates.io (`publish = false`), so bench/noxious/ drives the
# `noxious` 1.0.4 crate the way its server does; it is built into bench/.tools when missing.
# Usage: bench/proxy.sh [OUT.md]   (env: ROUNDS=5 DURATION=10s CONNECTIONS=50 RATE=5000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rounds=${ROUNDS:-5}
duration=${DURATION:-10s}
conns=${CONNECTIONS:-50}
rate=${RATE:-5000}
out=${1:-}
ensure_tools
noxious="$tools/bin/noxious-bench"
if [[ ! -x "$noxious" ]]; then
  echo "building noxious 1.0.4 into bench/.tools (cargo install --locked --path bench/noxious; a minute)" >&2
  cargo install --locked --quiet --path "$bench_root/bench/noxious" --root "$tools" >&2
fi
[[ -x "$bin" ]] || { echo "no release build at $bin: run make release" >&2; exit 1; }

start_scratch

up_port=$(free_port)
start_nginx "$up_port" "$scratch/nginx" ok
http_port=$(free_port)
admin_port=$(free_port)
"$bin" proxy --listen "127.0.0.1:$http_port" --upstream "http://127.0.0.1:$up_port" \
  --admin "127.0.0.1:$admin_port" > "$scratch/breakerbox.log" 2>&1 &
pids+=($!)
wait_port "$http_port"
wait_port "$admin_port"
tcp_port=$(free_port)
curl -fsS -X POST "http://127.0.0.1:$admin_port/proxies" \
  -d "{\"name\":\"bench\",\"listen\":\"127.0.0.1:$tcp_port\",\"upstream\":\"127.0.0.1:$up_port\"}" > /dev/null
wait_port "$tcp_port"
nox_port=$(free_port)
"$noxious" "127.0.0.1:$nox_port" "127.0.0.1:$up_port" > "$scratch/noxious.log" 2>&1 &
pids+=($!)
wait_port "$nox_port"

targets=(direct bb-http bb-tcp noxious)
declare -A port_of=([direct]=$up_port [bb-http]=$http_port [bb-tcp]=$tcp_port [noxious]=$nox_port)
for t in "${targets[@]}"; do
  body=$(curl -fsS "http://127.0.0.1:${port_of[$t]}/")
  [[ "$body" == ok ]] || { echo "$t answered \"$body\", not ok" >&2; exit 1; }
done

# wrk prints latencies as 123.45us, 1.23ms or 1.02s: in milliseconds.
wrk_ms() { awk -v q="$1" '$1 == q { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
  print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v) }' "$2"; }

# Prints "REQ_PER_S P50_MS P99_MS ERRORS" for wrk on target $1.
run_wrk() {
  local log="$scratch/wrk.out"
  wrk -t2 -c"$conns" -d"$duration" --latency "http://127.0.0.1:${port_of[$1]}/" > "$log"
  local rps errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; i++) n += $i} END {print n + 0}' "$log")
  echo "$rps $(wrk_ms 50% "$log") $(wrk_ms 99% "$log") $errors"
}

# Prints "REQ_PER_S P50_MS P99_MS ERRORS" for oha at $rate/s on target $1.
run_oha() {
  local log="$scratch/oha.out"
  "$oha" -z "$duration" -c "$conns" -q "$rate" --latency-correction --no-tui --output-format json \
    "http://127.0.0.1:${port_of[$1]}/" > "$log"
  python3 - "$log" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
ok = r.get("statusCodeDistribution", {}).get("200", 0)
# Requests still in flight when -z ends are "aborted due to deadline": not errors.
errors = sum(n for e, n in r.get("errorDistribution", {}).items() if "deadline" not in e) + sum(
    n for code, n in r.get("statusCodeDistribution", {}).items() if code != "200")
print(f'{s["requestsPerSec"]:.1f} {p["p50"] * 1000:.3f} {p["p99"] * 1000:.3f} {errors}')
PY
}

declare -A rps p50 p99 err lp50 lp99 lrps lerr added
n=${#targets[@]}
machine_at_start=$(machine)
echo "$machine_at_start"
printf '%-6s %-8s %-9s %-10s %-8s %-8s %s\n' round tool target req_per_s p50_ms p99_ms errors
for ((round = 1; round <= rounds; round++)); do
  for ((i = 0; i < n; i++)); do
    t=${targets[$(((i + round - 1) % n))]}
    read -r r a b e < <(run_wrk "$t")
    rps[$t]="${rps[$t]:-} $r"; p50[$t]="${p50[$t]:-} $a"; p99[$t]="${p99[$t]:-} $b"
    err[$t]=$((${err[$t]:-0} + e))
    printf '%-6s %-8s %-9s %-10s %-8s %-8s %s\n' "$round" wrk "$t" "$r" "$a" "$b" "$e"
    sleep 1
  done
done
for ((round = 1; round <= rounds; round++)); do
  declare -A this_p99=()
  for ((i = 0; i < n; i++)); do
    t=${targets[$(((i + round - 1) % n))]}
    read -r r a b e < <(run_oha "$t")
    lrps[$t]="${lrps[$t]:-} $r"; lp50[$t]="${lp50[$t]:-} $a"; lp99[$t]="${lp99[$t]:-} $b"
    lerr[$t]=$((${lerr[$t]:-0} + e))
    this_p99[$t]=$b
    printf '%-6s %-8s %-9s %-10s %-8s %-8s %s\n' "$round" oha "$t" "$r" "$a" "$b" "$e"
    sleep 1
  done
  for t in bb-http bb-tcp noxious; do
    added[$t]="${added[$t]:-} $(python3 -c "print(round((${this_p99[$t]} - ${this_p99[direct]}) * 1000))")"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A m_rps m_p50 m_p99 m_lp50 m_lp99 m_added
# shellcheck disable=SC2086
for t in "${targets[@]}"; do
  m_rps[$t]=$(median ${rps[$t]}); m_p50[$t]=$(median ${p50[$t]}); m_p99[$t]=$(median ${p99[$t]})
  m_lp50[$t]=$(median ${lp50[$t]}); m_lp99[$t]=$(median ${lp99[$t]})
  [[ $t != direct ]] && m_added[$t]=$(median ${added[$t]})
done
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
row() {
  local t=$1 name=$2
  printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "${m_rps[$t]}" \
    "$(ratio "${m_rps[$t]}" "${m_rps[noxious]}")" "$(ratio "${m_rps[$t]}" "${m_rps[direct]}")" \
    "${m_p50[$t]}" "${m_p99[$t]}" "${m_lp50[$t]}" "${m_lp99[$t]}" \
    "$([[ $t == direct ]] && echo — || echo "${m_added[$t]} µs")"
}
http_ok=$(python3 -c "print('pass' if ${m_rps[bb-http]} >= ${m_rps[noxious]} else 'FAIL')")
http_p99_ok=$(python3 -c "print('pass' if ${m_added[bb-http]} < 200 else 'FAIL')")
tcp_ok=$(python3 -c "print('pass' if ${m_rps[bb-tcp]} >= ${m_rps[noxious]} else 'FAIL')")
tcp_p99_ok=$(python3 -c "print('pass' if ${m_added[bb-tcp]} < 200 else 'FAIL')")
summary=$(cat <<MD
Command: \`bench/proxy.sh\` (part of \`make bench\`): nginx with 1 worker answering \`ok\` on
loopback, reached directly, through \`breakerbox proxy --listen … --upstream …\` (HTTP mode, no
faults), through a breakerbox TCP proxy made with \`POST /proxies\` on the same process's admin
API (no toxics), and through noxious 1.0.4 (the \`noxious\` crate from crates.io, no toxics,
driven by \`bench/noxious/\` as noxious-server drives it). Throughput: \`wrk -t2 -c$conns
-d$duration --latency\`; latency at a fixed rate: \`oha -q $rate -c $conns --latency-correction
-z $duration\`; the targets' order rotating each round, $rounds rounds, medians. Added p99 is the
proxy's p99 minus direct's in the same round (median of the rounds). Errors (non-2xx, socket
errors) over all rounds: wrk ${err[direct]}/${err[bb-http]}/${err[bb-tcp]}/${err[noxious]},
oha ${lerr[direct]}/${lerr[bb-http]}/${lerr[bb-tcp]}/${lerr[noxious]} (direct/bb-http/bb-tcp/noxious).

| target | wrk req/s | ÷ noxious | ÷ direct | wrk p50 ms | wrk p99 ms | p50 ms at $rate/s | p99 ms at $rate/s | added p99 at $rate/s |
|---|--:|--:|--:|--:|--:|--:|--:|--:|
$(row direct direct)
$(row bb-http "breakerbox HTTP proxy")
$(row bb-tcp "breakerbox TCP proxy")
$(row noxious "noxious 1.0.4")

All rounds, wrk req/s: direct ${rps[direct]# }; HTTP ${rps[bb-http]# }; TCP ${rps[bb-tcp]# };
noxious ${rps[noxious]# }. Added p99 at $rate/s per round (µs): HTTP ${added[bb-http]# };
TCP ${added[bb-tcp]# }; noxious ${added[noxious]# }.

**HTTP proxy / noxious = $(ratio "${m_rps[bb-http]}" "${m_rps[noxious]}") ($http_ok, target ≥ 1.00), added p99
at $rate/s ${m_added[bb-http]} µs ($http_p99_ok, target < 200 µs); TCP proxy / noxious =
$(ratio "${m_rps[bb-tcp]}" "${m_rps[noxious]}") ($tcp_ok), added p99 ${m_added[bb-tcp]} µs ($tcp_p99_ok).**
Machine: $machine_at_start; at the end $load_end.
MD
)
echo
echo "$summary"
[[ -n "$out" ]] && echo "$summary" > "$out"
exit 0
