# What each way of moving data between tiers costs on a real kernel (bench/bench_migrate, the
# cost table of issue 17): move_pages and mbind between node 0 (DRAM) and node 1 (far memory),
# copy and remap over /dev/dax0.0, a protection sample, an idle-page scan (which Debian's
# kernel cannot do: it must say so) and a soft-dirty scan. The figures are
# written to out/bench_migrate.json; the check is that every benchmark ran (none skipped, each
# move left no page behind, each copy kept the contents), never how long it took.
. "$TIERMEM_VM_LIB"

B=$TIERMEM_BUILD_DIR/bench/bench_migrate
[ -x "$B" ] || fail "$B is not built; run cmake --build $TIERMEM_BUILD_DIR --target bench_migrate"
make_devdax
show_topology
step "bench_migrate"
TIERMEM_BENCH_DAX=/dev/dax0.0 "$B" --benchmark_min_time=0.05 --benchmark_repetitions=3 \
  --benchmark_out="$TIERMEM_VM_OUT/bench_migrate.json" --benchmark_out_format=json ||
  fail "bench_migrate exited with status $?"
json_check "$TIERMEM_VM_OUT/bench_migrate.json" <<'PY'
rows = [b for b in j["benchmarks"] if b.get("run_type") == "iteration"]
names = {b["run_name"] for b in rows}
want = {"move_pages/4KiB", "move_pages/2MiB", "mbind_move/2MiB", "copy_remap/promote/2MiB/manual_time",
        "copy_remap/demote/2MiB/manual_time", "protect_sample/4KiB", "idle_scan/256",
        "softdirty_scan/256"}
if want - names:
    fail(f"benchmarks missing: {sorted(want - names)}")
have_idle = os.path.exists("/sys/kernel/mm/page_idle/bitmap")
for b in rows:
    n = b["run_name"]
    if n == "idle_scan/256" and not have_idle:
        # Debian's 6.1 kernel has no CONFIG_IDLE_PAGE_TRACKING: the benchmark must say so.
        if "CONFIG_IDLE_PAGE_TRACKING" not in b.get("error_message", ""):
            fail(f"idle_scan without a page_idle bitmap did not say why: {b.get('error_message')}")
        continue
    if b.get("error_occurred"):
        fail(f'{n}: {b.get("error_message")}')
    if n == "softdirty_scan/256" and b["written_seen"] < b["written"]:
        fail(f'softdirty_scan saw {b["written_seen"]} of {b["written"]} written pages')
    if b.get("misplaced_pages", 0) != 0:
        fail(f'{n}: {b["misplaced_pages"]} pages not on the target node')
    if "content_kept" in b and (b["content_kept"] != 1 or b["short_copies"] != 0):
        fail(f"{n}: the copy did not keep the contents")
    if "content_kept" in b and not b.get("label", "").startswith("/dev/dax0.0,"):
        fail(f'{n} ran on {b.get("label")}, not /dev/dax0.0')
    if n == "protect_sample/4KiB" and b["touches_seen"] != 1:
        fail("a protection sample did not see its touch")
for b in rows:
    if not b.get("error_occurred"):
        print(f'{b["run_name"]:40s} {b["real_time"]:10.1f} {b["time_unit"]} {b.get("label", "")}')
ok("every migration benchmark ran on the device and the two nodes")
PY
step "migrate-costs: all benchmarks ran"
