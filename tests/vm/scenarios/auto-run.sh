# `tiermem run --auto=FAST<=SIZE,SLOW` on an unmodified python3 (issue 17): the program's data
# born on SLOW, a hot set of 8 MiB written over and over inside 64 MiB of cold data, a budget of
# 16 MiB on node 0. SLOW is first the devdax device, of align 4 KiB and then 2 MiB (mapped by the program itself, which nothing
# in the kernel can move), then, once it is system RAM, its node 2. Checks: every byte of both
# sets is right at the end (contents kept across moves), the statistics the program prints at
# exit (TIERMEM_STATS) show promotions and never more than the budget on node 0; and where the
# hot set's pages are, asked of the kernel (the mapping's name for the device, move_pages with
# no target for the node), is printed.
. "$TIERMEM_VM_LIB"
need_tiermem
PROG=$TIERMEM_SOURCE_DIR/tests/vm/scenarios/auto_hot.py
# pymalloc keeps small objects away from malloc; the bytearrays here are large, but say it
# plainly: PYTHONMALLOC=malloc sends every object through the preload library.
export PYTHONMALLOC=malloc
# Under TCG a 2 MiB copy and remap costs 100-300 times what it costs on the host (bench_migrate):
# the engine gets half a core, as in vm.gups-kernel, instead of its default 3%.
export TIERMEM_MIGRATE_CPU=0.5
run_auto() {
  local name=$1 slow=$2 tag=$3
  step "tiermem run --auto='node:0<=16M,$slow' python3 (SLOW: $name)"
  local out err rc=0
  out=$(TIERMEM_STATS=1 "$TIERMEM" run --auto="node:0<=16M,$slow" -- "$PY" -I -S "$PROG" 25 8 64 "$tag" \
        2>"$TIERMEM_VM_OUT/auto-$name.err") || rc=$?
  cat "$TIERMEM_VM_OUT/auto-$name.err"
  echo "$out"
  [ $rc -eq 0 ] || fail "python3 under --auto with SLOW $slow exited with status $rc: $out"
  grep '^tiermem: stats ' "$TIERMEM_VM_OUT/auto-$name.err" | tail -1 | sed 's/^tiermem: stats //' \
    >"$TIERMEM_VM_OUT/auto-$name.json"
  json_check "$TIERMEM_VM_OUT/auto-$name.json" "$slow" "$out" <<'PY'
slow, out = args[0], args[1]
tiers = {t["name"]: t for t in j["tiers"]}
if slow not in tiers or "node:0" not in tiers:
    fail(f"the statistics name no {slow} and node:0 tiers: {sorted(tiers)}")
s, f = tiers[slow], tiers["node:0"]
mib = lambda b: b / (1 << 20)
print(f"{slow}: promoted {mib(s['promoted_bytes']):.0f} MiB, demoted {mib(s['demoted_bytes']):.0f} MiB, "
      f"moved back within 10 s {mib(s['moved_back_10s_bytes']):.0f} MiB, on node 0 at exit "
      f"{mib(s['fast_resident_bytes']):.0f} MiB, scans {s['tracking_scans']}, "
      f"tracking CPU {s['tracking_cpu_ns'] / 1e9:.2f} s")
if s["promoted_bytes"] <= 0:
    fail(f"{slow}: nothing was promoted to node 0")
if s["tracking_scans"] <= 0:
    fail(f"{slow}: the engine made no scan")
if f["fast_resident_bytes"] > 16 << 20:
    fail(f"node 0 holds {f['fast_resident_bytes']} bytes of SLOW's units, over the 16 MiB budget")
ok(f"{slow}: promoted, within the budget; the program: {out}")
PY
}
# A device of align 4 KiB is tracked per page; one of align 2 MiB (the default) has one
# soft-dirty bit per unit, so only units written in a window are told from the rest (the
# interpreter's own memory looks as hot as the hot set): both run, the placement is printed.
make_devdax 4K
run_auto devdax4k dax:dax0.0 dax0.0
make_devdax
run_auto devdax dax:dax0.0 dax0.0
to_system_ram dax0.0
run_auto kmem node:2 dax0.0
# A node SLOW is tracked per 4 KiB page (soft-dirty bits of a huge page mark all 2 MiB of it):
# huge pages asked for it are refused with one line, and the program runs on.
err=$(TIERMEM_THP=on "$TIERMEM" run --auto='node:0<=16M,node:2' -- "$PY" -I -S -c 'x = bytearray(8 << 20)' 2>&1) ||
  fail "python3 under --auto with TIERMEM_THP=on failed: $err"
case "$err" in
  *"TIERMEM_THP=on does not apply to 'node:2', the SLOW tier of an auto() policy"*) echo "ok: $err" ;;
  *) fail "TIERMEM_THP=on with a node SLOW: expected the one-line notice, got: $err" ;;
esac
# The same through the C API: tm_tier_set_huge_pages(SLOW, 1) fails with -EBUSY and one line.
# python3 dlopens the library: that needs static TLS for the private jemalloc (docs/heap.md).
err=$(GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096 TIERMEM_LIB=$TIERMEM_BUILD_DIR/src/libtiermem.so "$PY" -I -S -c '
import ctypes, os
lib = ctypes.CDLL(os.environ["TIERMEM_LIB"])
lib.tm_policy_parse.restype = lib.tm_tier_find.restype = ctypes.c_void_p
lib.tm_last_error.restype = ctypes.c_char_p
lib.tm_tier_set_huge_pages.argtypes = [ctypes.c_void_p, ctypes.c_int]
if not lib.tm_policy_parse(b"auto(node:0<=16M, node:2)"):
    raise SystemExit("tm_policy_parse: " + lib.tm_last_error().decode())
rc = lib.tm_tier_set_huge_pages(lib.tm_tier_find(b"node:2"), 1)
print(rc, lib.tm_last_error().decode())
' 2>&1) || fail "the C API check of huge pages on a SLOW tier failed: $err"
case "$err" in
  "-16 tiermem: tier 'node:2' is the SLOW tier of an auto() policy"*) echo "ok: $err" ;;
  *) fail "tm_tier_set_huge_pages(node:2, 1) under an auto() policy: expected -16 (EBUSY) and the line, got: $err" ;;
esac
step "auto-run: both done"
