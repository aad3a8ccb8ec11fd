# What tracking alone costs a program (issue 17's goal: updates/s with tracking at least 0.95x
# of tracking off). GUPS on the kmem node as in gups-kernel, but FAST's budget one 2 MiB unit,
# so that the engine tracks (clears the soft-dirty bits, reads them, and every first write
# after a clear faults) and moves almost nothing. Under TCG the spread between runs is larger
# than any cost (gups-kernel: the same run gives 0.8-8 M updates/s across boots), so the
# three runs are interleaved, three rounds in one boot, and the ratios are taken per round:
# tracking off (the same auto policy and block, the engine paused before it started); the
# engine at half a core (as gups-kernel runs it); the engine at its default 3%. The baseline
# was bench_gups with no mover until 2026-12-06, which locks most of node 0 for the kernel's
# tiering: on a faster host that alone made GUPS 1.6x slower than under the engine.
# The check is that every run ran and the engine scanned (and the paused one did not), never
# how fast.
. "$TIERMEM_VM_LIB"

B=$TIERMEM_BUILD_DIR/bench/bench_gups
[ -x "$B" ] || fail "$B is not built; run cmake --build $TIERMEM_BUILD_DIR --target bench_gups"
make_devdax
to_system_ram dax0.0
echo 0 >/proc/sys/kernel/numa_balancing
# FAST's budget of one unit: the engine tracks and moves almost nothing.
run() {
  local name=$1 mover=$2 cpu=${3:-} fast=2
  TIERMEM_GUPS_MOVER=$mover TIERMEM_GUPS_CPU=$cpu TIERMEM_GUPS_FAST=0 TIERMEM_GUPS_SLOW=2 \
  TIERMEM_GUPS_MIB=256 TIERMEM_GUPS_FAST_MIB=$fast TIERMEM_GUPS_SECONDS=10 TIERMEM_GUPS_MOVE_SECONDS=10 \
    "$B" --benchmark_out="$TIERMEM_VM_OUT/track-$name.json" --benchmark_out_format=json ||
    fail "bench_gups ($name) exited with status $?"
}
for round in 1 2 3; do
  step "round $round: tracking off, tracking at half a core, tracking at 3%"
  run "none-$round" tiermem-off
  run "half-$round" tiermem 0.5
  run "cpu3-$round" tiermem 0.03
done
json_check "$TIERMEM_VM_OUT/track-none-1.json" "$TIERMEM_VM_OUT" <<'PY'
import statistics
out = args[0]
def bench(name):
    with open(f"{out}/track-{name}.json") as f:
        b = json.load(f)["benchmarks"][0]
    if b.get("error_occurred"):
        fail(f'{name}: {b.get("error_message")}')
    return b
ratios = {"half": [], "cpu3": []}
for r in (1, 2, 3):
    off = bench(f"none-{r}")
    if off["tiermem_scans"] != 0:
        fail(f"none-{r}: the paused engine scanned {off['tiermem_scans']:.0f} times")
    none = off["updates_per_s"]
    row = [f"round {r}: off {none / 1e6:.2f} M/s ({off['page_faults'] / 1e3:.0f}k page faults)"]
    for kind in ratios:
        b = bench(f"{kind}-{r}")
        if b["tiermem_scans"] <= 0:
            fail(f"{kind}-{r}: the engine's statistics show no scan")
        ratios[kind].append(b["updates_per_s"] / none)
        row.append(f'{kind} {b["updates_per_s"] / 1e6:.2f} M/s ({ratios[kind][-1]:.2f}x, '
                   f'{b["tiermem_scans"]:.0f} scans, {b["page_faults"] / 1e3:.0f}k page faults, '
                   f'thread {100 * b["tiermem_thread_cpu_share"]:.1f}% '
                   f'of a core, promoted {b["tiermem_promoted_MiB"]:.0f} MiB)')
    print(", ".join(row))
for kind, rs in ratios.items():
    print(f"tracking {kind}: updates/s {statistics.median(rs):.2f}x of tracking off "
          f"(median of 3 rounds, range {min(rs):.2f}-{max(rs):.2f})")
ok("every run ran")
PY
step "gups-tracking: done"
