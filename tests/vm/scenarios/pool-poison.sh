# Issue 7: real hardware poison (MADV_HWPOISON, the kernel's memory-failure path) in the
# frames of a buffer pool whose fast tier is node 0 (DRAM) and slow tier the CPU-less
# far-memory node 1 (anonymous memory, 4 KiB units). The frames of a clean page and of a
# dirty page are poisoned; demoting them reads each frame with tm_copy_mc, which meets the
# poison: both frames are retired, the clean page is reloaded from storage with its content,
# the dirty page is reported lost by id through on_lost, and 5000 later pins never get a
# retired frame and see every other page's content intact. Then read()'s pin-less copy meets
# poison in two more fast-tier frames: the clean page is reloaded, the dirty one is reported
# lost and the read fails with EHWPOISON. Two fresh processes then check read()'s inline
# copy of up to 16 bytes, which runs only until a process has poison on record: the first
# poison each meets is in a clean page's frame (the page is reloaded) or in the caller's
# buffer (the error names the buffer). QEMU cannot raise a real machine
# check; MADV_HWPOISON drives the same memory_failure() code a machine check would.
. "$TIERMEM_VM_LIB"

P=$TIERMEM_BUILD_DIR/tests/bufferpool/tm_pool_poison_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_pool_poison_probe"

rc=0
"$P" node:0 node:1 >pool.out 2>pool.err || rc=$?
cat pool.out pool.err
[ "$rc" = 0 ] || fail "tm_pool_poison_probe exited $rc: $(grep FAIL pool.out | head -3)"
grep -q "^ok: on_lost was called once, with page id 1" pool.out ||
  fail "the probe did not check the lost page's id"
grep -q "^ok: read() of clean page .* reloaded it from storage" pool.out ||
  fail "the probe did not check read() on a poisoned clean page"
grep -q "^ALL OK$" pool.out || fail "the probe did not report ALL OK"

for mode in page buffer; do
  rc=0
  "$P" --short-read-$mode node:0 node:1 >short.out 2>short.err || rc=$?
  cat short.out short.err
  [ "$rc" = 0 ] || fail "tm_pool_poison_probe --short-read-$mode exited $rc: $(grep FAIL short.out | head -3)"
  grep -q "^ok: 16-byte read()" short.out || fail "the probe did not check a 16-byte read() ($mode)"
  grep -q "^ALL OK$" short.out || fail "the --short-read-$mode probe did not report ALL OK"
done
step "pool-poison: all checks passed"
