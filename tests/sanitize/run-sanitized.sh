#!/usr/bin/env bash
# run-sanitized.sh KIND SOURCE_DIR WORK_DIR TARGET...
# Builds the library and the named test binaries with a sanitizer in their own build tree
# and runs their test cases. KIND: asan (AddressSanitizer + UndefinedBehaviorSanitizer) or
# tsan (ThreadSanitizer). Any report fails the run (halt_on_error / exitcode).
set -euo pipefail
kind=$1 src=$2 work=$3
shift 3
case "$kind" in
  asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
        skip=""
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ;;
  # GCC cannot instrument atomic_thread_fence (the SIGBUS handler's registry uses one) and
  # warns; the fence orders a signal handler against its own thread, which TSan does not model.
  tsan) flags="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan"
        skip=""
        export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ;;
  *) echo "run-sanitized: unknown sanitizer '$kind' (asan or tsan)"; exit 2 ;;
esac
mkdir -p "$work"
cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=Debug -DTIERMEM_VM_TESTS=OFF \
      -DTIERMEM_BUILD_BENCH=OFF -DTIERMEM_BUILD_EXAMPLES=OFF -DTIERMEM_WERROR=ON \
      "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_CXX_FLAGS=$flags" \
      "-DCMAKE_EXE_LINKER_FLAGS=$flags" "-DCMAKE_SHARED_LINKER_FLAGS=$flags" >/dev/null
cmake --build "$work" -j2 --target "$@" >/dev/null
status=0
for t in "$@"; do
  bin=$(find "$work/tests" -type f -name "$t" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "run-sanitized: $t was not built in $work"; exit 1; }
  echo "== $kind: $t"
  # A hang is a failure with a reason, not a stalled CI run.
  (cd "$(dirname "$bin")" && timeout 600 "$bin" --no-intro --duration=false ${skip:+"--test-case-exclude=$skip"}) ||
    { echo "run-sanitized: $t failed or timed out under $kind"; status=1; }
done
exit $status
