#!/usr/bin/env bash
# Cache-hit throughput of an Outpost edge against nginx proxy_cache, in one run, interleaved
# (edge, nginx, edge, nginx, …) so that a noisy machine hurts both alike. Prints requests/s
# and the ratio edge/nginx for a 1 KiB and a 256 KiB object.
#
#   bash bench/edge-vs-nginx.sh [seconds-per-run] [rounds]
#
# Needs: nginx (nginx-light), wrk. Installs them with apt-get when missing and run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
conns=64

for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
  fi
done

swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost

work=$(mktemp -d /tmp/outpost-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/site" "$work/nginx-cache"
chmod 755 "$work"
chmod 777 "$work/nginx-cache"   # nginx's workers run as www-data
head -c 1024 /dev/urandom > "$work/site/1k.bin"
head -c 262144 /dev/urandom > "$work/site/256k.bin"
cat > "$work/origin.toml" <<TOML
listen = "127.0.0.1:18080"
root = "$work/site"
default_cache_control = "public, max-age=3600"
TOML
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $work/nginx-cache keys_zone=bench:16m max_size=256m;
  server {
    listen 127.0.0.1:18082;
    location / {
      proxy_pass http://127.0.0.1:18080;
      proxy_cache bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX

"$bin" origin --config "$work/origin.toml" 2>/dev/null & pids+=($!)
"$bin" edge --name bench-edge --listen 127.0.0.1:18081 --origin http://127.0.0.1:18080 --cache-size 256MiB 2>/dev/null & pids+=($!)
nginx -c "$work/nginx.conf"
sleep 1

for f in 1k 256k; do
  for port in 18081 18082; do curl -s -o /dev/null "http://127.0.0.1:$port/$f.bin"; curl -s -o /dev/null "http://127.0.0.1:$port/$f.bin"; done
  edge_status=$(curl -s -o /dev/null -D - "http://127.0.0.1:18081/$f.bin" | tr -d '\r' | grep -ai '^cache-status' || true)
  nginx_status=$(curl -s -o /dev/null -D - "http://127.0.0.1:18082/$f.bin" | tr -d '\r' | grep -ai '^x-cache-status' || true)
  echo "warm $f: edge [$edge_status] nginx [$nginx_status]"
  case "$nginx_status" in *HIT*) ;; *) echo "nginx is not answering from its cache; see $work/nginx-error.log" >&2; cat "$work/nginx-error.log" >&2; exit 1 ;; esac
  case "$edge_status" in *hit*) ;; *) echo "the edge is not answering from its cache" >&2; exit 1 ;; esac
done

rps() { wrk -t1 -c$conns -d${secs}s "$1" | awk '/Requests\/sec/ {print $2}'; }

declare -A sum
for f in 1k 256k; do sum[edge-$f]=0; sum[nginx-$f]=0; done
echo "round  object  edge req/s   nginx req/s   ratio"
for r in $(seq 1 "$rounds"); do
  for f in 1k 256k; do
    e=$(rps "http://127.0.0.1:18081/$f.bin")
    n=$(rps "http://127.0.0.1:18082/$f.bin")
    sum[edge-$f]=$(awk "BEGIN {print ${sum[edge-$f]} + $e}")
    sum[nginx-$f]=$(awk "BEGIN {print ${sum[nginx-$f]} + $n}")
    printf "%5s  %6s  %11.0f  %12.0f   %.2f\n" "$r" "$f" "$e" "$n" "$(awk "BEGIN {print $e / $n}")"
  done
done
echo
for f in 1k 256k; do
  printf "cache hit, %-4s  edge/nginx requests/s = %.2f  (mean of %s interleaved rounds, wrk -t1 -c%s)\n" \
    "$f" "$(awk "BEGIN {print ${sum[edge-$f]} / ${sum[nginx-$f]}}")" "$rounds" "$conns"
done
