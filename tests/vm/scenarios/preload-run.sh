# Unmodified programs on tiers in a real kernel: `tiermem run` with the devdax device puts
# the program's heap in the /dev/dax0.0 mapping (through the preload library); once the
# device is system RAM, the same command binds python3's pages to its node with the kernel's
# policy (/proc/PID/numa_maps).
. "$TIERMEM_VM_LIB"
need_tiermem

PROBE=$TIERMEM_BUILD_DIR/tests/preload/preload_probe
[ -x "$PROBE" ] || fail "$PROBE is not built; run cmake --build $TIERMEM_BUILD_DIR --target preload_probe"

make_devdax
step "devdax: dry run"
plan=$("$TIERMEM" run --dry-run --membind=dax:dax0.0 -- "$PROBE" where /dev/dax0.0)
echo "$plan"
case "$plan" in
  *"LD_PRELOAD="*"TIERMEM_POLICY='bind(dax:dax0.0)'"*) echo "ok: devdax goes through the preload library" ;;
  *) fail "tiermem run --membind=dax:dax0.0 does not use the preload library: $plan" ;;
esac
out=$("$TIERMEM" run --membind=dax:dax0.0 -- "$PROBE" where /dev/dax0.0) ||
  fail "the probe's blocks are not in the /dev/dax0.0 mapping: $out"
expect_eq "probe under tiermem run (devdax)" "$out" "ok where"
out=$("$TIERMEM" run --membind=dax:dax0.0 -- "$PROBE" edge) || fail "malloc edge cases failed on the devdax tier: $out"
expect_eq "malloc edge cases on the devdax tier" "$out" "ok edge"
# Forks while four threads allocate: each child gets its own copy of the device's blocks and
# allocates in it (100 blocks: a devdax tier cannot grow in a child, the parent keeps the device).
out=$("$TIERMEM" run --membind=dax:dax0.0 -- "$PROBE" forkthreads 100) ||
  fail "children forked under allocating threads on the devdax tier failed: $out"
expect_eq "forks under allocating threads on the devdax tier" "$out" "ok forkthreads"

to_system_ram dax0.0
step "kmem: python3 bound to node 2 by the kernel"
plan=$("$TIERMEM" run --dry-run --membind=dax:dax0.0 -- python3 -c pass)
case "$plan" in
  *"set_mempolicy(MPOL_BIND, nodes 2)"*) echo "ok: $plan" ;;
  *) fail "tiermem run --membind=dax:dax0.0 (system-ram) should bind to node 2: $plan" ;;
esac
# python3 allocates 64 MiB, touches it, and counts its anonymous pages per node itself.
counts=$("$TIERMEM" run --membind=dax:dax0.0 -- python3 -I -S -c '
import re
data = bytearray(64 << 20)
for i in range(0, len(data), 4096):
    data[i] = 1
per = {}
for line in open("/proc/self/numa_maps"):
    if " anon=" not in line and "heap" not in line:
        continue
    for n, c in re.findall(r" N(\d+)=(\d+)", line):
        per[n] = per.get(n, 0) + int(c)
print(" ".join(f"{n}={c}" for n, c in sorted(per.items())))
') || fail "python3 under tiermem run --membind failed"
echo "anonymous pages per node: $counts"
n2=$(echo "$counts" | tr ' ' '\n' | awk -F= '$1 == 2 { print $2 }')
other=$(echo "$counts" | tr ' ' '\n' | awk -F= '$1 != 2 { s += $2 } END { print s + 0 }')
[ "${n2:-0}" -ge 16384 ] || fail "only ${n2:-0} anonymous pages on node 2 (want the 64 MiB: >= 16384)"
[ "$other" -eq 0 ] || fail "$other anonymous pages landed outside node 2 under MPOL_BIND"
echo "ok: $n2 pages on node 2, none elsewhere"
step "preload-run: all checks passed"
