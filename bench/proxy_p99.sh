#!/usr/bin/env bash
# Added p99 of the HTTP fault proxy at 5,000 requests/s, measured so machine noise cancels:
# two oha runs at the same time, one straight at nginx and one through `breakerbox proxy`
# (no faults), 3 rounds. Sequential runs (bench/proxy.sh) swing by a millisecond at p99 on a
# shared 2-core machine; concurrent runs see the same noise. The proxy runs with its
# defaults; BREAKERBOX_THREADS and BREAKERBOX_PRIORITY (read by the proxy) try others. C sets
# the connections per oha (default 50). THROUGH=nginx puts nginx, set up as a keep-alive
# reverse proxy, where breakerbox was: the floor a mature proxy sets on the same machine.
#   bench/proxy_p99.sh   BREAKERBOX_THREADS=2 BREAKERBOX_PRIORITY=normal bench/proxy_p99.sh
#   THROUGH=nginx bench/proxy_p99.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools >/dev/null
[[ -x "$bin" ]] || { echo "no release build at $bin: run make release" >&2; exit 1; }
start_scratch
up=$(free_port)
start_nginx "$up" "$scratch/nginx" ok
proxy=$(free_port)
case "${THROUGH:-breakerbox}" in
  breakerbox)
    "$bin" proxy --listen "127.0.0.1:$proxy" \
      --upstream "http://127.0.0.1:$up" > "$scratch/breakerbox.log" 2>&1 &
    pids+=($!) ;;
  nginx)
    start_nginx_proxy "$proxy" "$up" "$scratch/reverse" ;;
  *) echo "THROUGH is breakerbox or nginx" >&2; exit 2 ;;
esac
sleep 1
oha="$tools/bin/oha"
for round in 1 2 3; do
  for target in direct:$up proxy:$proxy; do
    "$oha" -z 10s -c "${C:-50}" -q 5000 --latency-correction --no-tui --output-format json \
      "http://127.0.0.1:${target#*:}/" > "$scratch/${target%%:*}.json" 2>/dev/null &
  done
  wait $(jobs -p | tail -2) || true
  python3 - "$scratch/direct.json" "$scratch/proxy.json" "$round" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["latencyPercentiles"]
p = json.load(open(sys.argv[2]))["latencyPercentiles"]
print(f"round {sys.argv[3]}: direct p50 {d['p50']*1e3:.3f} ms p99 {d['p99']*1e3:.3f} ms | "
      f"proxy p50 {p['p50']*1e3:.3f} ms p99 {p['p99']*1e3:.3f} ms | "
      f"added p99 {(p['p99'] - d['p99'])*1e6:.0f} µs")
PY
done
