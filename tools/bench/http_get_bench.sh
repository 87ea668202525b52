#!/usr/bin/env bash
# GET throughput: nullspaced `GET /v1/builds/{id}` vs nginx serving a static
# 200-byte file (worker_processes 1 and auto), both driven by the same wrk
# invocation in the same run.
#
#   tools/bench/http_get_bench.sh [--duration S] [--server PATH] [--threads T] [--connections C]
#                                 [--quick]
#
# Needs: wrk, nginx (nginx-light), curl. Everything runs on 127.0.0.1 with a
# private temp dir; all processes are stopped on exit. --quick (what CI runs):
# 1 s per target, 8 connections; without nginx only the nullspaced row.
set -euo pipefail

DURATION=10
SERVER=build/nullspaced
THREADS=2
CONNS=64
QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --server) SERVER="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --quick) QUICK=1; DURATION=1; CONNS=8; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

NGINX=1
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null && continue
  if [[ "$tool" == nginx && "$QUICK" == 1 ]]; then
    echo "nginx is not installed: the nginx baseline is left out (apt-get install nginx-light)" >&2
    NGINX=0
    continue
  fi
  echo "missing tool: $tool (tools/setup installs wrk and curl)" >&2
  exit 1
done
[[ -x "$SERVER" ]] || { echo "server binary not executable: $SERVER" >&2; exit 1; }

TMP=$(mktemp -d /tmp/http-get-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers may run as an unprivileged user
NS_PID=""
NGINX_PID=""

stop_pid() {  # stop_pid PID [SIGNAL]
  local pid="$1" sig="${2:-TERM}"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$NGINX_PID" QUIT
  stop_pid "$NS_PID" TERM
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- nullspaced --------------------------------------------------------------
mkdir -p "$TMP/data"
"$SERVER" --listen 127.0.0.1:0 --data-dir "$TMP/data" --isolation host --log-level warn \
  >"$TMP/nullspaced.out" 2>"$TMP/nullspaced.err" &
NS_PID=$!
NS_PORT=""
for _ in $(seq 1 100); do
  NS_PORT=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/nullspaced.out" 2>/dev/null | sed 's/.*://' || true)
  [[ -n "$NS_PORT" ]] && break
  kill -0 "$NS_PID" 2>/dev/null || { echo "nullspaced exited:" >&2; cat "$TMP/nullspaced.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$NS_PORT" ]] || { echo "nullspaced did not start listening" >&2; exit 1; }
NS_BASE="http://127.0.0.1:$NS_PORT"

BODY='{"name":"bench","builder":{"source":{"type":"python_image","version":"3.11"},"steps":[{"type":"run","cmd":"echo hello"}]}}'
CREATE=$(curl -sS -X POST -H 'Content-Type: application/json' -d "$BODY" "$NS_BASE/v1/builds")
BUILD_ID=$(printf '%s' "$CREATE" | grep -o '"id":"tb_[^"]*"' | head -1 | sed 's/"id":"//; s/"$//')
[[ -n "$BUILD_ID" ]] || { echo "could not create build: $CREATE" >&2; exit 1; }

STATUS=""
for _ in $(seq 1 20); do
  STATUS=$(curl -sS "$NS_BASE/v1/builds/$BUILD_ID?offset=0&wait_ms=30000" |
    grep -o '"status":"[a-z_]*"' | head -1 | sed 's/"status":"//; s/"$//')
  [[ "$STATUS" == ready ]] && break
  case "$STATUS" in error|cancelled) echo "build ended as $STATUS" >&2; exit 1 ;; esac
done
[[ "$STATUS" == ready ]] || { echo "build not ready (status: $STATUS)" >&2; exit 1; }
NS_URL="$NS_BASE/v1/builds/$BUILD_ID"
NS_BYTES=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$NS_URL")

# ---- nginx -------------------------------------------------------------------
mkdir -p "$TMP/nginx/www" "$TMP/nginx/logs" "$TMP/nginx/tmp"
chmod -R 755 "$TMP/nginx"
head -c 200 /dev/zero | tr '\0' 'x' >"$TMP/nginx/www/file200"
chmod 644 "$TMP/nginx/www/file200"

start_nginx() {  # start_nginx WORKERS → sets NGINX_PID, NGINX_URL
  local workers="$1" port
  port=$(free_port)
  local p="$TMP/nginx"
  cat >"$p/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  open_file_cache max=16 inactive=60s;
  open_file_cache_valid 60s;  # no open/fstat/close per request: the strongest static baseline
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path $p/tmp/client;
  proxy_temp_path $p/tmp/proxy;
  fastcgi_temp_path $p/tmp/fastcgi;
  uwsgi_temp_path $p/tmp/uwsgi;
  scgi_temp_path $p/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $p/www;
  }
}
EOF
  nginx -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" &
  NGINX_PID=$!
  NGINX_URL="http://127.0.0.1:$port/file200"
  for _ in $(seq 1 100); do
    if curl -sf -o /dev/null "$NGINX_URL" 2>/dev/null; then return 0; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "nginx did not start:" >&2; cat "$p/logs/error.log" >&2; exit 1
}
stop_nginx() { stop_pid "$NGINX_PID" QUIT; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""; }

# ---- wrk ---------------------------------------------------------------------
# run_wrk NAME URL → $TMP/wrk.NAME.txt
run_wrk() {
  local name="$1" url="$2"
  echo "wrk -t$THREADS -c$CONNS -d${DURATION}s --latency $url" >&2
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$TMP/wrk.$name.txt"
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.$1.txt"; }
# p99 normalised to ms
p99_of() {
  awk '$1=="99%" { v=$2; u=v; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
        f = (u=="us") ? 0.001 : (u=="ms") ? 1 : (u=="s") ? 1000 : (u=="m") ? 60000 : 1;
        printf "%.2f", v*f }' "$TMP/wrk.$1.txt"
}
errors_of() {
  local f="$TMP/wrk.$1.txt" e
  e=$(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' ' | paste -sd';' - || true)
  echo "${e:-none}"
}

echo "nullspaced: $NS_URL (status,bytes: $NS_BYTES), pid $NS_PID" >&2
run_wrk nullspaced "$NS_URL"

ROWS=("nullspaced GET /v1/builds/{id}:nullspaced")
if [[ "$NGINX" == 1 ]]; then
  start_nginx 1
  echo "nginx worker_processes 1: $NGINX_URL" >&2
  run_wrk nginx1 "$NGINX_URL"
  stop_nginx

  start_nginx auto
  echo "nginx worker_processes auto ($(nproc) cpus): $NGINX_URL" >&2
  run_wrk nginxauto "$NGINX_URL"
  stop_nginx
  ROWS+=("nginx 200B worker_processes=1:nginx1" "nginx 200B worker_processes=auto:nginxauto")
fi

NS_RPS=$(rps_of nullspaced)
# A benchmark that measured nothing is broken, not slow.
[[ -n "$NS_RPS" ]] && ! grep -q 'Non-2xx' "$TMP/wrk.nullspaced.txt" || {
  echo "nullspaced run failed:" >&2; cat "$TMP/wrk.nullspaced.txt" >&2; exit 1; }
echo
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s --latency   (host: $(nproc) cpus, wrk on the same host)"
printf '%-32s %12s %10s %18s  %s\n' target req/s p99_ms nullspaced/target errors
for row in "${ROWS[@]}"; do
  label="${row%%:*}"; key="${row##*:}"
  rps=$(rps_of "$key"); p99=$(p99_of "$key")
  ratio=$(awk -v a="$NS_RPS" -v b="$rps" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "n/a" }')
  printf '%-32s %12s %10s %18s  %s\n' "$label" "$rps" "$p99" "$ratio" "$(errors_of "$key")"
done
echo "(nullspaced response body: $(echo "$NS_BYTES" | cut -d' ' -f2) bytes$([[ "$NGINX" == 1 ]] && echo '; nginx body: 200 bytes'))"
# The figure line tools/bench/all reads (see bench_report.hpp).
if [[ "$NGINX" == 1 ]]; then
  echo "figure {\"name\": \"GET /v1/builds/{id} req/s\", \"value\": $NS_RPS, \"unit\": \"req/s\", \"anchor\": \"nginx worker_processes=1\", \"anchor_value\": $(rps_of nginx1)}"
else
  echo "figure {\"name\": \"GET /v1/builds/{id} req/s\", \"value\": $NS_RPS, \"unit\": \"req/s\"}"
fi
if [[ "${BENCH_VERBOSE:-0}" != 0 ]]; then
  for k in nullspaced nginx1 nginxauto; do
    [[ -f "$TMP/wrk.$k.txt" ]] && { echo "---- $k"; cat "$TMP/wrk.$k.txt"; }
  done
fi
