# Shared by the poison-heap-*.sh scenarios (sourced, not a scenario itself): the probe from
# the build tree and how one run of it is checked.
. "$TIERMEM_VM_LIB"

P=$TIERMEM_BUILD_DIR/tests/safety/tm_poison_heap_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_poison_heap_probe"

# probe NAME [VAR=VALUE...] COMMAND...: run the probe (output in NAME.out, NAME.err), show its
# output; it must pass all its checks.
probe() {
  local name=$1 rc=0
  shift
  env "$@" >"$name.out" 2>"$name.err" || rc=$?
  cat "$name.out" "$name.err"
  [ "$rc" = 0 ] || fail "$name: exited $rc: $(grep FAIL "$name.out" | head -3)"
}
