#!/usr/bin/env bash
# Runs every libFuzzer harness (Sources/FuzzTargets) for SECONDS each, with the address
# sanitizer, starting from the checked-in seeds in Fuzz/corpus/<target>. New interesting inputs
# go to a scratch corpus (.build-fuzz/corpus), not into the repository; a crash is written to
# Fuzz/crashes/<target>/ and makes the script exit non-zero: replay it with
#   swift run outpost-fuzz TARGET Fuzz/crashes/TARGET/crash-…
# and, once fixed, move it into Fuzz/corpus/TARGET so that the tests replay it for ever.
#
# usage: Fuzz/run.sh [SECONDS] [TARGET...]     (default: 30 s, every target)
# FUZZ_RUNS=N runs each target for N inputs from a fixed seed instead (what CI does: the same
# binary then explores the same inputs every time, so a red CI is a finding, not luck), still
# capped at SECONDS.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
scratch=.build-fuzz
swift build --scratch-path "$scratch" --product outpost-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 \
  | grep -vE "Cannot export local symbol|^\[[0-9]+/[0-9]+\]" | tail -n 5
bin="$scratch/debug/outpost-fuzz"
[ -x "$bin" ] || { echo "fuzz build failed"; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls Fuzz/corpus))
failed=0
printf '%-16s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "$scratch/corpus/$t" "Fuzz/crashes/$t"
  log="$scratch/fuzz-$t.log"
  extra=()
  [ -n "${FUZZ_RUNS:-}" ] && extra=(-runs="$FUZZ_RUNS" -seed=1)
  OUTPOST_FUZZ_TARGET="$t" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 "${extra[@]}" \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="Fuzz/crashes/$t/" "$scratch/corpus/$t" "Fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  size=$(ls "$scratch/corpus/$t" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FOUND A CRASH (see $log, Fuzz/crashes/$t)"; failed=1; fi
  printf '%-16s %12s %10s %8s %s\n' "$t" "${runs:-0}" "${rate:-0}" "$size" "$result"
done
rmdir Fuzz/crashes/* Fuzz/crashes 2>/dev/null
exit $failed
