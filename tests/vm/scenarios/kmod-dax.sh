# tiermem_dax on the memmap=256M!1G range: bad parameters refused with a reason in dmesg;
# /dev/tmdax0 maps (2M-aligned, shared only) and holds data across a re-open and a module
# reload; a page marked bad (the test-only injection) gives SIGBUS BUS_MCEERR_AR; rmmod is
# refused while a program maps the device; tiermem_kmem is refused the claimed range.
. "$(dirname "${BASH_SOURCE[0]}")/kmod-common.sh"
DAX=$KMOD/tiermem_dax.ko
BAD=0x8003000   # a page in the second half, outside the $((64 << 20)) the data test writes

refused "misaligned size" "is not aligned to align=0x200000" "$DAX" range=0x40000000,255M
refused "non-existent node" "target_node=7 does not exist" "$DAX" range=$RANGE target_node=7
refused "range that System RAM owns" 'is already claimed by "System RAM"' "$DAX" range=0x200000,2M
step "bad input refused"

dmesg_mark
insmod "$DAX" range=$RANGE inject_bad_page=$BAD
expect_dmesg "TEST ONLY: inject_bad_page marks the page at offset 0x8003000"
expect_dmesg "tmdax0: 0x40000000-0x4fffffff: 256 MiB, align 0x200000"
[ -c /dev/tmdax0 ] || fail "no /dev/tmdax0 after insmod"
S=/sys/class/tiermem_dax/tmdax0
expect_eq "$S/size" "$(sysfs_read $S/size)" 268435456
expect_eq "$S/align" "$(sysfs_read $S/align)" 2097152
expect_eq "$S/resource" "$(sysfs_read $S/resource)" 0x40000000
expect_eq "$S/bad_pages" "$(sysfs_read $S/bad_pages)" 0x8003000
node=$(sysfs_read $S/target_node)
[ -d "/sys/devices/system/node/node$node" ] || fail "target_node $node is not a node of this machine"
grep -F '40000000-4fffffff : tiermem_dax' /proc/iomem || fail "/proc/iomem does not show the claim: $(grep -F 4000000 /proc/iomem)"
step "tmdax0 up"

"$PROBE" write /dev/tmdax0 $((64 << 20)) 0x1234 || fail "writing /dev/tmdax0 failed"
"$PROBE" verify /dev/tmdax0 $((64 << 20)) 0x1234 || fail "/dev/tmdax0 lost data across a re-open"
"$PROBE" refuse-private /dev/tmdax0 || fail "MAP_PRIVATE of /dev/tmdax0 was not refused"
# The heap's devdax backend, unchanged, on /dev/tmdax0: same flock + MAP_FIXED path as dax0.0.
"$TIERMEM_BUILD_DIR/tests/kmod/kmod_backend_probe" /dev/tmdax0 $((256 << 20)) $((2 << 20)) $((64 << 20)) 0x1234 ||
  fail "the heap's devdax backend cannot use /dev/tmdax0"
dmesg_mark
"$PROBE" sigbus /dev/tmdax0 $((BAD + 0x10)) || fail "the bad page did not give SIGBUS"
expect_dmesg "touched bad page at offset 0x8003000"
step "data held, bad page withheld"

# Discovery's reader on the live sysfs the module created.
found=$("$TIERMEM_BUILD_DIR/tests/kmod/kmod_discover") || fail "read_tiermem_dax_devices failed: $found"
expect_eq "read_tiermem_dax_devices" "$found" \
  "tmdax0 path=/dev/tmdax0 size=268435456 align=2097152 target_node=$node resource=0x40000000 driver=tiermem_dax mode=devdax"

# tiermem list shows the device once topology.cpp calls the reader (issue 8 part 5).
if grep -q read_tiermem_dax_devices "$TIERMEM_SOURCE_DIR/src/topology/topology.cpp"; then
  tiermem_json list.json
  json_check list.json <<'PY'
d = dax("tmdax0")
if d is None:
    fail("tiermem list --json has no tmdax0")
if (d.get("path"), d.get("size"), d.get("align"), d.get("mode"), d.get("driver"), d.get("resource")) != \
        ("/dev/tmdax0", 268435456, 2097152, "devdax", "tiermem_dax", 0x40000000):
    fail(f"tmdax0 listed wrong: {d}")
ok(f"tiermem list shows tmdax0: {d}")
PY
else
  echo "note: topology.cpp does not call read_tiermem_dax_devices yet; tiermem list not checked"
fi

refused "overlapping range" 'is already claimed by "tiermem_dax"' "$KMOD/tiermem_kmem.ko" range=$RANGE target_node=2

"$PROBE" hold /dev/tmdax0 60 >holder.out &
holder=$!
for _ in $(seq 1 100); do grep -q mapped holder.out 2>/dev/null && break; sleep 0.1; done
grep -q mapped holder.out || fail "the holder never mapped /dev/tmdax0"
if out=$(rmmod tiermem_dax 2>&1); then fail "rmmod tiermem_dax succeeded while pid $holder maps the device"; fi
case $out in *"in use"*) echo "ok: rmmod while mapped refused: $out" ;; *) fail "rmmod refused without saying why: $out" ;; esac
[ -c /dev/tmdax0 ] || fail "/dev/tmdax0 vanished after the refused rmmod"
kill "$holder"; wait "$holder" || true
dmesg_mark
rmmod tiermem_dax
expect_dmesg "releasing 0x40000000-0x4fffffff"
grep -qF tiermem_dax /proc/iomem && fail "/proc/iomem still shows tiermem_dax after rmmod"
step "unload refused while mapped, then clean"

# The same physical memory after a reload: the data is still there, nothing is bad.
insmod "$DAX" range=$RANGE
expect_eq "bad_pages after a clean reload" "$(sysfs_read $S/bad_pages)" ""
"$PROBE" verify /dev/tmdax0 $((64 << 20)) 0x1234 || fail "data did not survive rmmod + insmod"
rmmod tiermem_dax
step "reload kept the data"
no_kernel_complaints
