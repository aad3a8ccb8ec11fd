# tiermem's migrating policy (auto(node:0<=64M, SLOW), the region one block of it) beside the
# kernel's own tiering, its peer (issue 17): GUPS with a moving hot
# set (bench/bench_gups, the fast node holding a quarter of the region) on the kmem node (the NVDIMM onlined as node 2, in a lower memory tier
# than DRAM), first with NUMA balancing off (nothing moves the hot set), then with
# numa_balancing=2 and demotion enabled, then with tiermem's engine (balancing off again); and
# before the device is onlined, tiermem's engine with the region on /dev/dax0.0 itself, which
# nothing in the kernel can move. Both runs' figures and timelines go to out/; the
# check is that both ran and that the kernel's tiering moved pages, never how fast.
. "$TIERMEM_VM_LIB"

B=$TIERMEM_BUILD_DIR/bench/bench_gups
[ -x "$B" ] || fail "$B is not built; run cmake --build $TIERMEM_BUILD_DIR --target bench_gups"
# Under TCG a 2 MiB copy and remap costs about 8 times what it costs on the host's own kernel
# (12-22 ms a promotion under GUPS's writes) and a pagemap read about 3 times (bench_migrate),
# so the engine gets half a core here instead of its default 3% (measured too, as tiermem-cpu3
# on the kmem node and tiermem-dax4k-cpu3 on the device).
TIERMEM_CPU=0.5
run_tiermem_dax() {
  local name=$1 cpu=${2:-$TIERMEM_CPU}
  TIERMEM_GUPS_MOVER=tiermem TIERMEM_GUPS_DAX=/dev/dax0.0 TIERMEM_GUPS_FAST=0 TIERMEM_GUPS_SLOW=1 \
  TIERMEM_GUPS_CPU=$cpu \
  TIERMEM_GUPS_MIB=256 TIERMEM_GUPS_SECONDS=30 TIERMEM_GUPS_MOVE_SECONDS=10 \
  TIERMEM_GUPS_TIMELINE="$TIERMEM_VM_OUT/gups-$name.csv" \
    "$B" --benchmark_out="$TIERMEM_VM_OUT/gups-$name.json" --benchmark_out_format=json ||
    fail "bench_gups ($name) exited with status $?"
}
# A device mapped in 4 KiB pages has a soft-dirty bit per page; one of align 2 MiB (the
# default) has one per 2 MiB unit, so its units are told apart only by whether they were
# written at all in a window. Both are measured.
make_devdax 4K
step "tiermem's migration, the region on /dev/dax0.0 (align 4 KiB)"
run_tiermem_dax tiermem-dax4k
# Issue 17's budget of 3% of a core, on the device too (the kmem node's run is below).
step "tiermem's migration, the region on /dev/dax0.0 (align 4 KiB), CPU budget 3%"
run_tiermem_dax tiermem-dax4k-cpu3 0.03
make_devdax
step "tiermem's migration, the region on /dev/dax0.0 (align 2 MiB)"
run_tiermem_dax tiermem-dax
to_system_ram dax0.0
t0=$(memory_tier_of 0); t2=$(memory_tier_of 2)
[ -n "$t2" ] && [ "$t2" != "$t0" ] || fail "node 2 is not in a memory tier below node 0's ($t0 / $t2)"
echo "node 0 in memory_tier$t0, node 2 in memory_tier$t2"
run() {
  local name=$1 seconds=$2 mover=${3:-} cpu=${4:-$TIERMEM_CPU}
  TIERMEM_GUPS_MOVER=$mover TIERMEM_GUPS_CPU=$cpu TIERMEM_GUPS_FAST=0 TIERMEM_GUPS_SLOW=2 TIERMEM_GUPS_MIB=256 TIERMEM_GUPS_SECONDS=$seconds \
  TIERMEM_GUPS_MOVE_SECONDS=10 TIERMEM_GUPS_TIMELINE="$TIERMEM_VM_OUT/gups-$name.csv" \
    "$B" --benchmark_out="$TIERMEM_VM_OUT/gups-$name.json" --benchmark_out_format=json ||
    fail "bench_gups ($name) exited with status $?"
}
step "no mover"
echo 0 >/proc/sys/kernel/numa_balancing
run none 10
step "the kernel's tiering"
echo 2 >/proc/sys/kernel/numa_balancing
echo 1 >/sys/kernel/mm/numa/demotion_enabled
run kernel 30
echo 0 >/proc/sys/kernel/numa_balancing
step "tiermem's migration, the region on the kmem node"
run tiermem 30 tiermem
# The same at the engine's default CPU budget, 3% of a core: it stretches its intervals until
# its scans and moves fit (what it costs under TCG, not on hardware, is what shows here).
step "tiermem's migration, the region on the kmem node, CPU budget 3%"
run tiermem-cpu3 30 tiermem 0.03
for name in none kernel tiermem tiermem-cpu3 tiermem-dax4k tiermem-dax4k-cpu3 tiermem-dax; do
  json_check "$TIERMEM_VM_OUT/gups-$name.json" "$name" <<'PY'
name = args[0]
b = j["benchmarks"][0]
if b.get("error_occurred"):
    fail(f'{name}: {b.get("error_message")}')
keys = sorted(k for k in b if k.startswith("to90_s_"))
print(f'{name}: updates/s {b["updates_per_s"]:.0f}, final hot share on fast {b["final_hot_share"]:.2f}, '
      f'to 90%: {[b[k] for k in keys]}, promoted {b["promoted_MiB"]:.1f} MiB, '
      f'demoted {b["demoted_MiB"]:.1f} MiB, ping-pong {b["pingpong_share"]:.3f}, hint faults {b["hint_faults"]:.0f}')
if name == "kernel" and b["promoted_MiB"] <= 0:
    fail("the kernel's tiering promoted nothing: numa_balancing=2 did not run")
if name.startswith("tiermem"):
    print(f'  tiermem: promoted {b["tiermem_promoted_MiB"]:.0f} MiB, demoted {b["tiermem_demoted_MiB"]:.0f} MiB, '
          f'moved back within 10 s {b["tiermem_moved_back_10s_MiB"]:.0f} MiB, scans {b["tiermem_scans"]:.0f}, '
          f'most on fast {b["tiermem_fast_MiB_max"]:.0f} MiB (budget {b["fast_budget_MiB"]:.0f}), '
          f'thread CPU {100 * b["tiermem_thread_cpu_share"]:.1f}% of a core '
          f'(moves {100 * b["tiermem_move_cpu_share"]:.1f}%)')
    if b["tiermem_promoted_MiB"] <= 0:
        fail(f"{name}: tiermem's engine promoted nothing")
    if b["tiermem_fast_MiB_max"] > b["fast_budget_MiB"]:
        fail(f"{name}: {b['tiermem_fast_MiB_max']:.0f} MiB on the fast node, over the budget of {b['fast_budget_MiB']:.0f}")
    if b["tiermem_scans"] <= 0:
        fail(f"{name}: the engine's statistics show no scan")
ok(f"{name}: ran")
PY
  sed -n '1p;0~4p' "$TIERMEM_VM_OUT/gups-$name.csv"
done
step "gups-kernel: both runs done"
