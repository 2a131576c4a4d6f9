#!/bin/bash
# Fuzzing campaign the way CI fuzzes, repeated: each round runs every target
# from an empty corpus (plus the seeds) for SECONDS with a fresh random seed,
# so the shallow paths a short CI run reaches get explored many times over.
# A crash does not stop the campaign: its input is kept under
# BUILD/campaign/<target>/ and the summary lists it.
#   tests/fuzz/campaign.sh BUILD SECONDS ROUNDS target...
# Needs `make fuzz-build` and the seeds (make fuzz-run creates them).
set -u
build=$1 seconds=$2 rounds=$3
shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$build/campaign"
mkdir -p "$out"
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer
export LSAN_OPTIONS="suppressions=$root/tests/lsan-suppressions:print_suppressions=0"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
total_runs=0 total_execs=0 crashes=0
for round in $(seq 1 "$rounds"); do
  for t in "$@"; do
    work=$(mktemp -d)
    mkdir -p "$work/corpus" "$out/$t"
    seed=$(( (RANDOM << 15) | RANDOM ))
    "$build/tests/fuzz/$t" -seed=$seed -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
      -max_len=300000 -print_final_stats=1 -artifact_prefix="$work/" \
      "$work/corpus" "$build/seeds/$t" >"$work/log" 2>&1
    rc=$?
    execs=$(grep -a '^stat::number_of_executed_units' "$work/log" | awk '{print $2}')
    total_runs=$((total_runs + 1)) total_execs=$((total_execs + ${execs:-0}))
    if [ $rc -ne 0 ]; then
      crashes=$((crashes + 1))
      for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [ -e "$a" ] && cp "$a" "$out/$t/"
      done
      cp "$work/log" "$out/$t/log-seed-$seed"
      echo "round $round $t seed $seed: FOUND (rc $rc), log $out/$t/log-seed-$seed"
    else
      echo "round $round $t seed $seed: ${execs:-0} executions, nothing found"
    fi
    rm -rf "$work"
  done
done
echo "campaign: $total_runs runs of ${seconds} s, $total_execs executions, $crashes with a finding"
[ $crashes -eq 0 ]
