# Issue 16: real hardware poison (MADV_HWPOISON) in every page tiermem mapped from the kmem
# tier (the NVDIMM onlined as node 2), one page per forked child, under a live workload of
# small and large blocks: each page is either a reported user block (tm_copy_mc stops there,
# the callback names the extent and the tier, the blocks over it are quarantined) or free
# memory (nothing reported, the heap keeps working). jemalloc's metadata for the tier is shown
# to lie outside the tier's slot and off node 2. Any other outcome fails.
. "$TIERMEM_VM_LIB"

P=$TIERMEM_BUILD_DIR/tests/safety/tm_poison_sweep_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_poison_sweep_probe"

make_devdax
to_system_ram dax0.0

rc=0
"$P" node:2 2 >sweep.out 2>sweep.err || rc=$?
cat sweep.out
# tiermem says nothing on stderr for poison found by tm_copy_mc; show the tail of whatever it said.
tail -5 sweep.err
[ "$rc" = 0 ] || fail "sweep: exited $rc: $(grep FAIL sweep.out | head -3)"
grep -q " pages poisoned: [0-9]* reported user block, [0-9]* free memory, 0 other" sweep.out ||
  fail "sweep: no count line"
grep -q "pages poisoned: 0 reported" sweep.out && fail "sweep: no page of a live block was poisoned"
grep -q "reported user block, 0 free memory" sweep.out && fail "sweep: no page of free memory was poisoned"
step "every page: passed"

# The sampled sweep for ranges too large to poison page by page (MAX_PAGES 32): every k-th
# page (k = pages / 32, rounded up) plus the first and last page of every extent.
rc=0
"$P" node:2 2 32 >stride.out 2>stride.err || rc=$?
cat stride.out
[ "$rc" = 0 ] || fail "stride: exited $rc: $(grep FAIL stride.out | head -3)"
grep -q "^sampling [0-9]* of [0-9]* pages (stride [0-9]*, plus the first and last page of [0-9]* extents)" stride.out ||
  fail "stride: no sampling line"
grep -q "(stride 1," stride.out && fail "stride: MAX_PAGES 32 still sampled every page"
step "poison-sweep-kmem: all checks passed"
