#!/usr/bin/env bash
# Fuzzes every parser the network or an uploaded file feeds (see Package.swift): builds the
# harnesses with libFuzzer and AddressSanitizer, then runs each for SECONDS (default 60) on
# a copy of its seed corpus in Fuzz/Corpus. Prints the executions each made. Exits non-zero
# when one finds a crash; the input is kept in Fuzz/artifacts/ (turn it into a test).
#
#   Fuzz/run.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
# SwiftPM passes each --sanitize as a flag of its own, and for swiftc the last one wins:
# without the combined -sanitize=fuzzer,address the code would carry no coverage at all.
flags=(--scratch-path .build-fuzz -c debug --sanitize fuzzer --sanitize address
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
echo "building the fuzzing harnesses (a first build takes about 10 minutes)..."
# SwiftPM re-reads a path dependency's manifest only when this one changes: make it look changed.
touch Package.swift
# ld.gold warns about every ASan helper symbol it cannot export: noise, not our code's.
swift build "${flags[@]}" 2>&1 | grep -v "ld.gold: warning: Cannot export local symbol" | grep -E "error|warning|Build complete" || true
bin=$(swift build "${flags[@]}" --show-bin-path)
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for dir in Corpus/*/; do harnesses+=("$(basename "$dir")"); done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p artifacts
failed=0
printf '%-18s %12s %10s %8s %s\n' harness executions "per sec" corpus result
for name in "${harnesses[@]}"; do
  [ -x "$bin/$name" ] || { echo "$name: not built"; failed=1; continue; }
  mkdir -p "$work/$name" "$work/$name.tmp"
  cp Corpus/"$name"/* "$work/$name/"
  log="$work/$name.log"
  result=ok
  # Leak checks are off: the Swift runtime keeps caches that LeakSanitizer reports.
  # The Swift backtracer would take minutes to symbolize a crash under ASan: libFuzzer reports it.
  # TMPDIR: what a harness writes (the token check's store) goes with the work folder.
  if ! TMPDIR="$work/$name.tmp" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -detect_leaks=0 -print_final_stats=1 -artifact_prefix="artifacts/$name-" "$work/$name" > "$log" 2>&1; then
    result="CRASH (see Fuzz/artifacts/$name-*)"
    failed=1
    grep -E "ERROR|Fatal|fatal|panic|SUMMARY|Crash|crash" "$log" | head -20
  fi
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" || echo 0)
  rate=$(grep -o "stat::average_exec_per_sec: *[0-9]*" "$log" | grep -o "[0-9]*$" || echo 0)
  corpus=$(ls "$work/$name" | wc -l)
  printf '%-18s %12s %10s %8s %s\n' "$name" "${runs:-0}" "${rate:-0}" "$corpus" "$result"
done
exit $failed
