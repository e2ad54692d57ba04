# Shared by the bench scripts: tools, a loopback nginx, medians. Source it, do not run it.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$bench_root/bench/.tools"
bin="${BREAKERBOX_BIN:-$bench_root/target/release/breakerbox}"
[[ -x "$bin" ]] || bin="${CARGO_TARGET_DIR:-$bench_root/target}/release/breakerbox"

# Installs what the benchmarks need: wrk and nginx from Debian's packages, oha with
# `cargo install --locked` into bench/.tools (gitignored), GNU time for peak RSS.
ensure_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  [[ -x /usr/bin/time ]] || missing+=(time)
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [[ ! -x "$tools/bin/oha" ]]; then
    echo "installing oha into bench/.tools (cargo install --locked oha; a few minutes)" >&2
    cargo install --locked --quiet oha --root "$tools" >&2
  fi
  oha="$tools/bin/oha"
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
}

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1 (up to 10 s).
wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

# Starts nginx with one worker in scratch dir $1, listening on 127.0.0.1:$2 with the
# `location /` body $3 and the http-level lines $4, stores its PID in the variable named $5
# (before waiting, so a cleanup can stop it), and waits for its port. keepalive_requests is
# raised so no client reconnects every 1,000 requests.
launch_nginx() {
  local dir=$1 port=$2 location=$3 http_extra=$4
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log crit;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  $http_extra
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / { $location }
  }
}
CONF
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" &
  printf -v "$5" '%s' "$!"
  wait_port "$port"
}

# Starts nginx answering `return 200` on 127.0.0.1:$1, in scratch dir $2, with body $3 if
# given (else none). Sets nginx_pid.
start_nginx() {
  local answer="return 200;"
  [[ -n "${3:-}" ]] && answer="default_type text/plain; return 200 '$3';"
  launch_nginx "$2" "$1" "$answer" "" nginx_pid
}

# Starts nginx on 127.0.0.1:$1 as a reverse proxy to 127.0.0.1:$2 with pooled keep-alive
# upstream connections, in scratch dir $3. Sets nginx_proxy_pid.
start_nginx_proxy() {
  launch_nginx "$3" "$1" \
    'proxy_pass http://dependency; proxy_http_version 1.1; proxy_set_header Connection "";' \
    "upstream dependency { server 127.0.0.1:$2; keepalive 200; }" nginx_proxy_pid
}

# Makes $scratch (a temporary directory) and an empty $pids; on exit, the processes whose
# PIDs were added to pids are stopped, then both nginx kinds, and scratch is removed (kept
# with KEEP_SCRATCH=1).
start_scratch() {
  scratch=$(mktemp -d)
  pids=()
  trap stop_scratch EXIT
}

stop_scratch() {
  local pid
  set +e
  for pid in "${pids[@]}" ${nginx_proxy_pid:-}; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  stop_nginx
  [[ -n "${KEEP_SCRATCH:-}" ]] || rm -rf "$scratch"
}

stop_nginx() {
  [[ -n "${nginx_pid:-}" ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  nginx_pid=
}

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# One line describing this machine, for the docs.
machine() {
  local cpu
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  echo "$(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
}
