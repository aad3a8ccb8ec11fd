# Known bad blocks and safe onlining on the NVDIMM: a media error reported to the kernel lands
# in region0's badblocks, `tiermem badblocks` shows it at its dax0.0 offset, `tiermem online`
# scrubs, makes dax0.0 System RAM and keeps the memory block holding the error out of the
# page allocator while the rest of node 2 serves allocations; `tiermem offline` returns the
# device to devdax. Both kernel policies: blocks added offline (tiermem onlines the good ones)
# and auto-onlined (tiermem hard-offlines the bad page, then offlines its block).
#
# QEMU cannot raise a machine check and its NVDIMM has no address range scrub, so the error is
# injected with the kernel's software machine-check injector (mce-inject, "sw" flag): the MCE
# record goes down the same decoder chain a real one does, where the NFIT driver's handler
# (drivers/acpi/nfit/mce.c) adds the address to the NVDIMM bus's bad ranges and region0's
# badblocks. The record: bank 4, status VAL|UC|EN|ADDRV with AMD extended error code 8 and
# Intel MCACOD 0x9f (a memory read error for either vendor), MISC = physical address mode,
# lsb 12 (one 4 KiB page).
. "$TIERMEM_VM_LIB"
need_tiermem
make_devdax
D=/sys/bus/dax/devices/dax0.0
R=/sys/bus/nd/devices/region0
M=/sys/devices/system/memory
dax_start=$(sysfs_read $D/resource)
region_start=$(sysfs_read $R/resource)
bs=$((0x$(sysfs_read $M/block_size_bytes)))
bad_off=$((0x8400000))                  # 132 MiB into dax0.0
bad_phys=$((dax_start + bad_off))
bad_block=$((bad_phys / bs))
expect_eq "region0 badblocks before the injection" "$(sysfs_read $R/badblocks)" ""

step "inject a media error at dax0.0 offset $(printf %#x $bad_off) (physical $(printf %#x $bad_phys))"
modprobe -C /dev/null -d "$TIERMEM_VM_KROOT" -S "$TIERMEM_VM_KREL" mce-inject ||
  fail "cannot load mce-inject from $TIERMEM_VM_KROOT"
I=/sys/kernel/debug/mce-inject
echo sw >$I/flags
echo 0xb40000000008009f >$I/status
echo 0x8c >$I/misc
echo "$bad_phys" >$I/addr
echo 4 >$I/bank                          # writing the bank injects
for i in $(seq 100); do [ -n "$(cat $R/badblocks)" ] && break; sleep 0.1; done
expect_eq "region0 badblocks after the injection" "$(cat $R/badblocks)" \
  "$(( (bad_phys - region_start) / 512 )) 8"

rc=0
"$TIERMEM" badblocks dax0.0 --json >bb.json || rc=$?
cat bb.json
expect_eq "tiermem badblocks with a known bad block: exit status" "$rc" 1
json_check bb.json "$bad_off" <<'PY'
off = int(args[0])
d = j["devices"][0]
if d["name"] != "dax0.0" or not d["has_region"]:
    fail(f"badblocks entry {d}")
if d["bad_blocks"] != [{"offset": off, "length": 4096}]:
    fail(f"bad_blocks {d['bad_blocks']}, want one 4 KiB block at {off:#x}")
ok(f"tiermem badblocks: dax0.0 offset {off:#x}, 4096 bytes")
PY

step "the devdax heap steps over the known bad block"
P=$TIERMEM_BUILD_DIR/tests/backend/tm_devdax_bad_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_devdax_bad_probe"
rc=0
"$P" /dev/dax0.0 "$bad_off" 4096 >probe.out 2>probe.err || rc=$?
cat probe.out probe.err
expect_eq "heap fill of dax0.0 around the bad block: exit status" "$rc" 0
grep -q "tiermem: /dev/dax0.0: 1 known bad range (4096 bytes) excluded from allocation" probe.err ||
  fail "the devdax backend did not say it excluded the known bad block"

step "errors before onlining"
rc=0
setpriv --reuid 65534 --regid 65534 --clear-groups "$TIERMEM" online dax0.0 2>err.txt || rc=$?
expect_eq "online as nobody: exit status" "$rc" 2
grep -q "tiermem: online dax0.0 needs root" err.txt || fail "online as nobody: $(cat err.txt)"
# A program holding the device: this shell takes the lock a devdax heap takes (flock -x).
exec 8</dev/dax0.0
flock -x 8
rc=0
"$TIERMEM" online dax0.0 8<&- 2>err.txt || rc=$?
flock -u 8
exec 8<&-
expect_eq "online while held: exit status" "$rc" 2
grep -q "tiermem: /dev/dax0.0 is busy (held by pid" err.txt || fail "online while held: $(cat err.txt)"
[ "$(dax_driver dax0.0)" = device_dax ] || fail "a refused online changed the driver"
echo "ok: a busy device is refused and left in devdax mode"

# online_check DESCRIPTION: the block holding the bad page is offline, every other block of
# dax0.0 online, and node 2 serves 600 MiB that read back intact.
online_check() {
  local f n state good=0
  for f in "$M"/memory*/state; do
    n=${f%/state}; n=${n##*memory}
    [ "$n" -ge $(( (dax_start + bs - 1) / bs )) ] || continue
    state=$(<"$f")
    if [ "$n" = "$bad_block" ]; then
      expect_eq "$1: state of memory$n (holds the bad page)" "$state" offline
    else
      expect_eq "$1: state of memory$n" "$state" online
      good=$((good + 1))
    fi
  done
  [ "$good" -ge 5 ] || fail "$1: only $good good blocks online"
  numactl --membind=2 "$PY" -I -S - <<'PY' || fail "$1: allocating 600 MiB on node 2 failed"
def free_kb():
    for line in open("/sys/devices/system/node/node2/meminfo"):
        if "MemFree" in line:
            return int(line.split()[3])
before = free_kb()
n = 600 << 20
b = bytearray(b"\xa5") * n
used = before - free_kb()
assert b.count(0xa5) == n, "the 600 MiB did not read back"
assert used > 500 << 10, f"node 2 MemFree dropped by {used} kB only"
print(f"ok: 600 MiB allocated on node 2 (MemFree down {used} kB) and read back")
PY
}

step "online with the kernel adding blocks offline"
expect_eq "auto_online_blocks" "$(sysfs_read $M/auto_online_blocks)" offline
"$TIERMEM" online dax0.0 --node 2 | tee online.out
expect_eq "dax0.0 driver after online" "$(dax_driver dax0.0)" kmem
grep -q "memory$bad_block .* kept offline: bad memory at physical $(printf %#x $bad_phys) (4.0 KiB); never onlined" online.out ||
  fail "online did not say which block it kept offline"
online_check "blocks added offline"
rc=0
"$TIERMEM" online dax0.0 2>err.txt || rc=$?
expect_eq "online twice: exit status" "$rc" 2
grep -q "already online as system-ram" err.txt || fail "online twice: $(cat err.txt)"
"$TIERMEM" offline dax0.0
expect_eq "dax0.0 driver after offline" "$(dax_driver dax0.0)" device_dax
[ -c /dev/dax0.0 ] || fail "no /dev/dax0.0 after tiermem offline"
rc=0
"$TIERMEM" offline dax0.0 2>err.txt || rc=$?
expect_eq "offline twice: exit status" "$rc" 2
grep -q "already in devdax mode" err.txt || fail "offline twice: $(cat err.txt)"

step "online with the kernel onlining blocks itself"
echo online_movable >$M/auto_online_blocks
hc_before=$(awk '/HardwareCorrupted/ { print $2 }' /proc/meminfo)
"$TIERMEM" online dax0.0 | tee online2.out
grep -q "memory$bad_block .* kept offline: .*bad pages hard-offlined, block offlined" online2.out ||
  fail "online (auto-online) did not hard-offline the bad page and offline its block"
hc_after=$(awk '/HardwareCorrupted/ { print $2 }' /proc/meminfo)
expect_eq "HardwareCorrupted grew by the hard-offlined page (kB)" "$((hc_after - hc_before))" 4
online_check "blocks auto-onlined"
echo offline >$M/auto_online_blocks
# Linux 6.1 offlines and removes a block holding a hard-offlined page like any other.
"$TIERMEM" offline dax0.0
expect_eq "dax0.0 driver after offline (a page was hard-offlined)" "$(dax_driver dax0.0)" device_dax
step "online: all checks passed"
