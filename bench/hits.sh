#!/usr/bin/env bash
# Cache-hit throughput of an Outpost edge against the anchors tuned as operators run them, in one
# interleaved run (every target in turn, each round), with ratios to nginx with one worker:
#   - nginx proxy_cache, 1 and 2 workers: sendfile on, keepalive_requests 100000,
#     open_file_cache, access_log off, upstream keepalive;
#   - Varnish (malloc storage), gzip built once at store time for CSS (beresp.do_gzip), as the
#     edge does; nginx compresses CSS per response (gzip on, level 1), which is how it is run.
# Each target is checked to answer from its cache before it is measured. Then the memory the
# edge takes per cached 1 KiB object (RSS over 20,000 objects, beyond their bodies).
#
#   bash bench/hits.sh [seconds-per-run] [rounds]
#
# Needs nginx (nginx-light), varnish, wrk: installed with apt-get when missing (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
rounds=${2:-3}

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v varnishd >/dev/null || need+=(varnish)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost

work=$(mktemp -d /tmp/outpost-hits.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in 1 2; do [ -f "$work/nginx$n.pid" ] && kill "$(cat "$work/nginx$n.pid")" 2>/dev/null || true; done
  pkill -f "varnishd.*$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

mkdir -p "$work/site"
head -c 1024 /dev/urandom > "$work/site/1k.bin"
head -c 16384 /dev/urandom > "$work/site/16k.bin"
head -c 262144 /dev/urandom > "$work/site/256k.bin"
head -c 4194304 /dev/urandom > "$work/site/4m.bin"
python3 - "$work/site/style.css" <<'PY'
import random, sys
random.seed(7)
rules = []
while sum(len(r) for r in rules) < 100 * 1024:
    n = random.randrange(10000)
    rules.append(".c%d { color: #%06x; margin: %dpx %dpx; }\n" % (n, random.randrange(1 << 24), n % 17, n % 23))
open(sys.argv[1], "w").write("".join(rules)[: 100 * 1024])
PY
cat > "$work/origin.toml" <<TOML
listen = "127.0.0.1:18080"
root = "$work/site"
default_cache_control = "public, max-age=3600"
synthetic_prefix = "/_bench/"
TOML

for n in 1 2; do
  mkdir -p "$work/nginx-cache$n"; chmod 777 "$work/nginx-cache$n"
  cat > "$work/nginx$n.conf" <<NGINX
worker_processes $n;
pid $work/nginx$n.pid;
error_log $work/nginx$n-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  gzip on;
  gzip_comp_level 1;
  gzip_types text/css;
  proxy_cache_path $work/nginx-cache$n levels=1:2 keys_zone=bench$n:64m max_size=2g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:18080; keepalive 32; }
  server {
    listen 127.0.0.1:1808$((n + 1));
    location / {
      proxy_pass http://origin;
      proxy_cache bench$n;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX
done
cat > "$work/default.vcl" <<'VCL'
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "18080"; }
sub vcl_backend_response {
  if (beresp.http.content-type ~ "text/css") { set beresp.do_gzip = true; }
}
sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Cache-Status = "HIT"; } else { set resp.http.X-Cache-Status = "MISS"; }
}
VCL

"$bin" origin --config "$work/origin.toml" 2>"$work/origin.log" & pids+=($!)
"$bin" edge --name bench-edge --listen 127.0.0.1:18081 --origin http://127.0.0.1:18080 --cache-size 512MiB 2>"$work/edge.log" & edge=$!; pids+=($edge)
# The same edge with its access log on (a file): what logging costs a hit.
cat > "$work/edge-log.toml" <<TOML
name = "bench-edge-log"
listen = "127.0.0.1:18086"
origin = "http://127.0.0.1:18080"
cache_size = "512MiB"
access_log = "$work/access.log"
TOML
"$bin" edge --config "$work/edge-log.toml" 2>"$work/edge-log.log" & pids+=($!)
nginx -c "$work/nginx1.conf"
nginx -c "$work/nginx2.conf"
varnishd -a 127.0.0.1:18084 -f "$work/default.vcl" -s malloc,512m -n "$work/varnish" -P "$work/varnish.pid" 2>"$work/varnish.log"
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18080/1k.bin && break; sleep 0.1; done
sleep 1

targets=(outpost nginx-1w nginx-2w varnish)
declare -A port=([outpost]=18081 [nginx-1w]=18082 [nginx-2w]=18083 [varnish]=18084 [outpost-log]=18086)
# object, connections, extra header
rows=("1k.bin 64" "1k.bin 256" "16k.bin 64" "16k.bin 256" "256k.bin 64" "4m.bin 64" "style.css 64 gzip")

warm() {  # target object [gzip]
  local url="http://127.0.0.1:${port[$1]}/$2" h=()
  [ -n "${3:-}" ] && h=(-H "Accept-Encoding: gzip")
  for _ in 1 2 3; do curl -s -o /dev/null "${h[@]}" "$url"; done
  local status
  status=$(curl -s -o /dev/null -D - "${h[@]}" "$url" | tr -d '\r' | grep -ai '^\(cache-status\|x-cache-status\)' || true)
  case "$status" in *hit*|*HIT*) ;; *) echo "$1 does not answer $2 from its cache: [$status]" >&2; exit 1 ;; esac
  if [ -n "${3:-}" ]; then
    curl -s -o /dev/null -D - "${h[@]}" "$url" | tr -d '\r' | grep -qi '^content-encoding: gzip' || { echo "$1 does not send $2 gzipped" >&2; exit 1; }
  fi
}
for row in "${rows[@]}"; do set -- $row; for t in "${targets[@]}"; do warm "$t" "$1" "${3:-}"; done; done
warm outpost-log 1k.bin
# The 1 KiB rows also measure the edge with its access log on.
targets_for() { case "$1" in 1k.bin) echo "${targets[@]}" outpost-log ;; *) echo "${targets[@]}" ;; esac; }
echo "every target answers every object from its cache"

quiet() {  # wait (at most 3 s) until the CPUs are idle: the previous run's tail has settled
  for _ in $(seq 6); do
    read -r _ u1 n1 s1 i1 _ < /proc/stat
    sleep 0.5
    read -r _ u2 n2 s2 i2 _ < /proc/stat
    local busy=$(( (u2 + n2 + s2) - (u1 + n1 + s1) )) idle=$(( i2 - i1 ))
    [ $(( busy * 10 )) -lt $(( (busy + idle) * 1 )) ] && return   # under 10 % busy
  done
}
measure() {  # target object conns [gzip] -> "rps p99ms"
  local h=() url="http://127.0.0.1:${port[$1]}/$2"
  [ -n "${4:-}" ] && h=(-H "Accept-Encoding: gzip")
  wrk -t1 -c"$3" -d"${secs}s" --latency "${h[@]}" "$url" | awk '
    /Requests\/sec/ {r=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p=v}
    END {printf "%s %s\n", r, p}'
}

declare -A rps p99
for r in $(seq 1 "$rounds"); do
  for row in "${rows[@]}"; do
    set -- $row
    for t in $(targets_for "$1"); do
      quiet
      read -r x p <<<"$(measure "$t" "$1" "$2" "${3:-}")"
      rps[$t,$row]=$(awk "BEGIN {print ${rps[$t,$row]:-0} + $x}")
      p99[$t,$row]=$(awk "BEGIN {print ${p99[$t,$row]:-0} + $p}")
    done
  done
  echo "round $r done"
done

echo
echo "Cache hits, requests/s as a ratio to nginx with one worker (mean of $rounds interleaved rounds of ${secs} s, wrk -t1);"
echo "p99 latency ratio to nginx-1w in brackets."
printf "| %-22s | %-14s | %-14s | %-14s | %-14s |\n" "object, connections" "Outpost" "Varnish" "nginx, 2 workers" "nginx-1w req/s"
printf "| --- | --- | --- | --- | --- |\n"
for row in "${rows[@]}"; do
  set -- $row
  base=${rps[nginx-1w,$row]}; bp=${p99[nginx-1w,$row]}
  label="$1, $2${3:+ (Accept-Encoding: gzip)}"
  cell() { awk "BEGIN {printf \"%.2f (p99 %.2f)\", ${rps[$1,$row]} / $base, ($bp > 0 ? ${p99[$1,$row]} / $bp : 0)}"; }
  printf "| %-22s | %-14s | %-14s | %-14s | %14.0f |\n" "$label" "$(cell outpost)" "$(cell varnish)" "$(cell nginx-2w)" "$(awk "BEGIN {print $base / $rounds}")"
done

echo
for row in "1k.bin 64" "1k.bin 256"; do
  awk "BEGIN {printf \"access log on (%s): %.3f of the log-off edge's requests/s (%.1f %% more time per hit)\\n\", \"$row\", ${rps[outpost-log,$row]} / ${rps[outpost,$row]}, (${rps[outpost,$row]} / ${rps[outpost-log,$row]} - 1) * 100}"
done
lines=$(wc -l < "$work/access.log")
echo "access log: $lines lines written"

# Memory per cached object: 20,000 distinct 1 KiB objects into a fresh edge.
kill "$edge" 2>/dev/null || true; wait "$edge" 2>/dev/null || true
"$bin" edge --name mem-edge --listen 127.0.0.1:18085 --origin http://127.0.0.1:18080 --cache-size 512MiB 2>"$work/mem-edge.log" & edge=$!; pids+=($edge)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18085/1k.bin && break; sleep 0.1; done
before=$(awk '/VmRSS/ {print $2 * 1024}' "/proc/$edge/status")
python3 - <<'PY'
import http.client
c = http.client.HTTPConnection("127.0.0.1", 18085)
for i in range(20000):
    c.request("GET", "/_bench/%d-1024.bin" % (i + 1000))
    c.getresponse().read()
PY
after=$(awk '/VmRSS/ {print $2 * 1024}' "/proc/$edge/status")
awk "BEGIN {printf \"\\nmemory: %.0f bytes of RSS per cached 1 KiB object (20,000 objects), %.0f beyond the body\\n\", ($after - $before) / 20000, ($after - $before) / 20000 - 1024}"
