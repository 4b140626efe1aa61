#!/usr/bin/env bash
# What a miss costs when clients are slow, leave, ask for HEAD or for a range: a release edge
# in front of an origin that counts the body bytes its sockets really took
# (bench/counting_origin.py). Prints the four figures of issue #10:
#   1. edge memory growth while a client reads a 512 MiB uncacheable object at 100 KiB/s;
#   2. origin bytes sent after a client drops a 512 MiB download after 1 MiB;
#   3. origin bytes for a HEAD of it;
#   4. time to the first byte of `Range: bytes=0-99` of a cold 16 MiB object sent at 1 MiB/s.
#
#   bash bench/miss-path.sh [seconds-of-slow-read]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost
work=$(mktemp -d /tmp/outpost-miss.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

python3 bench/counting_origin.py 18180 & pids+=($!)
"$bin" edge --name miss-edge --listen 127.0.0.1:18181 --origin http://127.0.0.1:18180 --cache-size 256MiB --max-object-size 64MiB \
  2>"$work/edge.log" & edge=$!; pids+=($edge)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18181/_count && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$edge/status"; }
count() { curl -s http://127.0.0.1:18180/_count; }
reset() { curl -s -o /dev/null http://127.0.0.1:18180/_reset; }
mib() { awk "BEGIN {printf \"%.1f MiB\", $1 / 1048576}"; }
settle() { local a b; a=$(count); while sleep 0.5; b=$(count); [ "$a" != "$b" ]; do a=$b; done; echo "$b"; }

big="/big?size=536870912&cc=no-store"

# 1. A slow reader (100 KiB/s) of an uncacheable 512 MiB object.
before=$(rss); reset
python3 - "$secs" <<PY &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 18181))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET $big HTTP/1.1\r\nHost: bench\r\n\r\n")
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    s.recv(10240)
    time.sleep(0.1)
PY
reader=$!
peak=$before
for _ in $(seq $((secs * 4))); do sleep 0.25; r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; done
wait $reader || true
echo "1. slow reader, ${secs} s at 100 KiB/s of 512 MiB uncacheable: edge RSS grew $(mib $((peak - before))) (peak over start); origin sent $(mib "$(settle)")"

# 2. A client that drops the download after 1 MiB.
sleep 1; reset
python3 - <<PY
import socket
s = socket.create_connection(("127.0.0.1", 18181))
s.sendall(b"GET $big&x=2 HTTP/1.1\r\nHost: bench\r\n\r\n")
n = 0
while n < 1 << 20:
    n += len(s.recv(65536))
s.close()
PY
echo "2. client dropped a 512 MiB download after 1 MiB: origin sent $(mib "$(settle)")"

# 3. HEAD of it.
reset
curl -s -o /dev/null -I "http://127.0.0.1:18181$big&x=3"
echo "3. HEAD of the 512 MiB object: origin sent $(settle) body bytes"

# 4. Range of a cold 16 MiB object from an origin sending 1 MiB/s.
reset
ttfb=$(curl -s -o /dev/null -w '%{time_starttransfer}' -H 'Range: bytes=0-99' "http://127.0.0.1:18181/video?size=16777216&rate=1048576&cc=max-age%3D600")
echo "4. Range: bytes=0-99 of a cold 16 MiB object at 1 MiB/s: first byte after ${ttfb} s"
sleep 17
hit=$(curl -s -o /dev/null -D - -H 'Range: bytes=16777116-' "http://127.0.0.1:18181/video?size=16777216&rate=1048576&cc=max-age%3D600" | tr -d '\r' | grep -i '^cache-status' || true)
echo "   afterwards the last 100 bytes: $hit"
