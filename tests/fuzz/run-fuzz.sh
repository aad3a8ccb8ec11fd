#!/usr/bin/env bash
# run-fuzz.sh SOURCE_DIR WORK_DIR SECONDS TARGET...
# The fuzz step: builds the named fuzz targets with clang (libFuzzer, ASan, UBSan) in a build
# tree of their own, then runs each for SECONDS on one core, starting from its seeds and
# regression inputs (all replayed first: any of them failing fails the step). New inputs go
# to WORK_DIR/corpus/NAME, a finding to WORK_DIR/artifacts/NAME/ (copy it into
# tests/fuzz/regressions/NAME/ once fixed). Prints one line a target: executions, coverage.
# Warnings are not errors here: the gcc build is the warning gate, and clang warns differently.
set -euo pipefail
src=$1 work=$2 secs=$3
shift 3
start=$SECONDS
mkdir -p "$work"
log=$work/build.log
if ! { cmake -S "$src" -B "$work/build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
         -DCMAKE_BUILD_TYPE=None "-DCMAKE_C_FLAGS=-O1 -gline-tables-only" \
         "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" -DTIERMEM_FUZZ=ON -DTIERMEM_BUILD_TESTS=OFF \
         -DTIERMEM_BUILD_BENCH=OFF -DTIERMEM_BUILD_EXAMPLES=OFF -DTIERMEM_BUILD_KMOD=OFF \
         -DTIERMEM_VM_TESTS=OFF -DTIERMEM_WITH_ROCKSDB=OFF -DTIERMEM_WERROR=OFF &&
       cmake --build "$work/build" -j2 --target $(printf 'fuzz_%s ' "$@"); } >"$log" 2>&1; then
  tail -n 40 "$log"
  echo "run-fuzz: the clang fuzz build failed (log: $log)"
  exit 1
fi
echo "run-fuzz: built $# targets in $((SECONDS - start)) s"
# Leaks are findings too; a hang (one input over 10 s) is one.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0
status=0
# A crash inside libhwloc: hwloc's own XML import (Debian's 2.9.0 faults on
# some damaged files, tests/fuzz/hwloc-crashes/), which tiermem cannot fix without patching it.
# (The frames above the first one in tiermem's sources include one in libhwloc.)
in_hwloc() {
  local report
  report=$(ASAN_OPTIONS=detect_leaks=0 "$1" "$2" 2>&1 || true)
  awk '/^ +#[0-9]+ / { if ($0 ~ /\/src\//) exit; if ($0 ~ /libhwloc\.so/) { found = 1; exit } }
       END { exit !found }' <<<"$report"
}
for t in "$@"; do
  bin=$work/build/tests/fuzz/fuzz_$t
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  seeds=("$src/tests/fuzz/corpus/$t")
  [ -d "$src/tests/fuzz/regressions/$t" ] && seeds+=("$src/tests/fuzz/regressions/$t")
  out=$work/fuzz_$t.log
  max=4096
  mode=()
  if [ "$t" = hwloc_xml ]; then
    max=16384  # the seeds are whole XML files
    # One child at a time that may crash inside hwloc; each crash is judged below.
    mode=(-fork=1 -ignore_crashes=1)
  fi
  rm -f "$work/artifacts/$t"/crash-* "$work/artifacts/$t"/leak-* "$work/artifacts/$t"/timeout-*
  # -close_fd_mask=1: the targets' own stdout (help texts) is noise; stderr keeps the reports.
  rc=0
  (cd "$work" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max" \
      -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "${mode[@]}" \
      "$work/corpus/$t" "${seeds[@]}") >"$out" 2>&1 || rc=$?
  bad=0 hwloc=0
  for a in "$work/artifacts/$t"/*; do
    [ -e "$a" ] || continue
    if [ "$t" = hwloc_xml ] && in_hwloc "$bin" "$a"; then hwloc=$((hwloc + 1)); else bad=$((bad + 1)); fi
  done
  ok=0
  if [ "$bad" = 0 ] && { [ "$rc" = 0 ] || [ "$hwloc" -gt 0 ]; }; then ok=1; fi
  if [ "$ok" = 1 ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$out" | tail -1 | tr -d '#')
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out" | tail -1)
    note=""
    [ "$hwloc" -gt 0 ] && note=", $hwloc crash(es) inside libhwloc (not tiermem's)"
    echo "run-fuzz: $t: ${runs:-?} runs, ${cov:-no coverage line}, corpus $(ls "$work/corpus/$t" | wc -l) inputs$note"
  else
    status=1
    grep -v '^#\|^INFO\|^\[' "$out" | tail -n 60 || true
    echo "run-fuzz: $t FAILED: see $out; the input is in $work/artifacts/$t/"
  fi
done
echo "run-fuzz: done in $((SECONDS - start)) s"
exit $status
