#!/usr/bin/env bash
# How fast an edge's disk tier is back after a restart: N files (1 KiB each, valid names) are
# laid out as the tier keeps them, then a release edge starts on the folder. Prints when the
# edge first answered and how long the scan of the folder took (it runs while the edge answers).
#
#   bash bench/disk-restart.sh [files]        (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost
work=$(mktemp -d /tmp/outpost-disk.XXXXXX)
pid=
origin=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$origin" ] && kill "$origin" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work/disk/objects" "$n" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
body = b"x" * 1024
for b in range(256): os.makedirs(os.path.join(root, "%02x" % b), exist_ok=True)
for i in range(n):
    name = hashlib.sha256(b"http://origin/%d" % i).hexdigest()
    with open(os.path.join(root, name[:2], name), "wb") as f: f.write(body)
PY
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true   # a cold start where allowed
mkdir -p "$work/www"; echo ok > "$work/www/index.html"
python3 -m http.server 18282 --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & origin=$!
until curl -s -o /dev/null http://127.0.0.1:18282/; do sleep 0.05; done
start=$(date +%s.%N)
"$bin" edge --name disk-bench --listen 127.0.0.1:18281 --origin http://127.0.0.1:18282 --disk-cache "$work/disk" --disk-cache-size 100GiB \
  2>"$work/edge.log" & pid=$!
until curl -s -o /dev/null http://127.0.0.1:18281/index.html; do sleep 0.01; done   # a miss: to the origin
first=$(date +%s.%N)
until grep -q "taken stock" "$work/edge.log"; do sleep 0.05; done
echo "files: $n"
awk -v s="$start" -v f="$first" 'BEGIN { printf "first answer after start: %.2f s\n", f - s }'
grep -o "[0-9]* files taken stock of in [0-9.]* s" "$work/edge.log"
