#!/usr/bin/env bash
# DNS queries/s of the Outpost director against gdnsd, in one run, interleaved (director,
# gdnsd, director, …), with dnsperf as the load. gdnsd serves the same zone statically; the
# director routes every query (client network → nearest healthy data center → edges).
#
#   bash bench/director-vs-gdnsd.sh [seconds-per-run] [rounds]
#
# Needs dnsperf and gdnsd (installed with apt-get when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}

for tool in dnsperf gdnsd; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf gdnsd >/dev/null; }
done
swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost

work=$(mktemp -d /tmp/outpost-dnsbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The demo fleet, so the director has real edges to check.
"$bin" up >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 1 100); do dig +time=1 +tries=1 @127.0.0.1 -p 5353 cdn.outpost.test A +short 2>/dev/null | grep -q 127.0 && break; sleep 0.2; done

mkdir -p "$work/gdnsd/zones" "$work/run"
cat > "$work/gdnsd/config" <<CONF
options => { listen => [ 127.0.0.1 ], dns_port => 15353, udp_threads => 2, tcp_threads => 1 }
CONF
cat > "$work/gdnsd/zones/cdn.outpost.test" <<ZONE
@     86400 SOA ns1 hostmaster 1 3600 600 86400 5
@     86400 NS  ns1
ns1   86400 A   127.0.0.1
@     5     A   127.0.1.1
@     5     A   127.0.1.2
ZONE
RUNTIME_DIRECTORY="$work/run" gdnsd -c "$work/gdnsd" start >"$work/gdnsd.log" 2>&1 & pids+=($!)
for _ in $(seq 1 50); do dig +time=1 +tries=1 @127.0.0.1 -p 15353 cdn.outpost.test A +short 2>/dev/null | grep -q 127.0 && break; sleep 0.2; done
dig @127.0.0.1 -p 15353 cdn.outpost.test A +short | grep -q 127.0 || { echo "gdnsd did not start:"; cat "$work/gdnsd.log"; exit 1; }

printf 'cdn.outpost.test A\n' > "$work/queries"
qps() { dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$secs" -c 8 -q 64 2>/dev/null | awk '/Queries per second/ {print $4}'; }

echo "round  director q/s   gdnsd q/s   ratio"
sd=0; sg=0
for r in $(seq 1 "$rounds"); do
  d=$(qps 5353); g=$(qps 15353)
  sd=$(awk "BEGIN {print $sd + $d}"); sg=$(awk "BEGIN {print $sg + $g}")
  printf "%5s  %12.0f  %10.0f   %.2f\n" "$r" "$d" "$g" "$(awk "BEGIN {print $d / $g}")"
done
printf "\nDNS A queries: director/gdnsd queries/s = %.2f (mean of %s interleaved rounds of %ss, dnsperf -c 8 -q 64)\n" \
  "$(awk "BEGIN {print $sd / $sg}")" "$rounds" "$secs"
