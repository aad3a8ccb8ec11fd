# Real hardware poison (MADV_HWPOISON, the kernel's memory-failure path) against tiermem's
# safety layer, on anonymous memory bound to the CPU-less far-memory node 1 (4 KiB units,
# si_addr_lsb 12) and on a device-dax mapping (2 MiB units, si_addr_lsb 21): every copy
# routine returns the bytes from the poisoned unit on, the poison is recorded and called
# back once with the range and tier, and a plain load is reported on stderr and passed on to
# the program's own SIGBUS handler as BUS_MCEERR_AR. QEMU cannot raise a real machine check;
# MADV_HWPOISON drives the same memory_failure() code a machine check would.
. "$TIERMEM_VM_LIB"

P=$TIERMEM_BUILD_DIR/tests/safety/tm_poison_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_poison_probe"

# probe NAME ARGS...: run the probe, show its output, check tiermem's stderr report.
probe() {
  local name=$1 rc=0
  shift
  "$P" "$@" >"$name.out" 2>"$name.err" || rc=$?
  cat "$name.out" "$name.err"
  [ "$rc" = 0 ] || fail "$name: tm_poison_probe $* exited $rc: $(grep FAIL "$name.out" | head -3)"
  grep -q "tiermem: uncorrectable memory error (SIGBUS BUS_MCEERR_AR)" "$name.err" ||
    fail "$name: tiermem did not report the plain load of poison on stderr"
  grep -q "bytes on tier $TIER lost its data at offset" "$name.err" ||
    fail "$name: the report does not name the allocation's tier $TIER"
}

TIER=1
probe node1 node 1 "$TIER"
step "anonymous memory on CPU-less node 1: all checks passed"

make_devdax
TIER=2
probe devdax devdax /dev/dax0.0 "$TIER"
grep -q "registry: unit 2097152 bytes, lsb 21" devdax.out || fail "devdax poison not recorded as a 2 MiB unit"
step "poison: all checks passed"
