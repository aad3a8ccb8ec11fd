# tiermem_kmem on the memmap=256M!1G range (two 128M memory blocks): bad parameters refused
# with a reason in dmesg; with a test-injected bad page in the second block, only the first
# comes online on node 2, the skipped one is reported in sysfs and dmesg and stays claimed;
# memory bound to node 2 (mbind, and the heap's node:2 tier) lands there; unload removes it;
# a clean reload onlines both blocks.
. "$(dirname "${BASH_SOURCE[0]}")/kmod-common.sh"
KMEM=$KMOD/tiermem_kmem.ko
# Movable: what the kernel can always empty again, so that unload can take the memory out.
echo online_movable >/sys/devices/system/memory/auto_online_blocks

refused "non-existent node" "target_node=3 does not exist" "$KMEM" range=$RANGE target_node=3
refused "size not a whole memory block" "is not aligned to the memory block size 0x8000000" "$KMEM" range=0x40000000,64M target_node=2
refused "range that System RAM owns" 'is already claimed by "System RAM"' "$KMEM" range=0x8000000,128M target_node=2
step "bad input refused"

node_mem() { awk '/MemTotal/ { print $4 }' /sys/devices/system/node/node2/meminfo 2>/dev/null || echo 0; }
dmesg_mark
insmod "$KMEM" range=$RANGE target_node=2 inject_bad_page=0x8003000
expect_dmesg "TEST ONLY: inject_bad_page marks the page at offset 0x8003000 (0x48003000) bad"
expect_dmesg "block 0x48000000-0x4fffffff: scrub found 1 bad page(s), first at 0x48003000; skipping the block"
expect_dmesg "added 1 of 2 block(s) of 128 MiB to node 2"
S=/sys/class/tiermem_kmem/tmkmem0
expect_eq "skipped_blocks" "$(sysfs_read $S/skipped_blocks)" 0x48000000-0x4fffffff
expect_eq "added_blocks" "$(sysfs_read $S/added_blocks)" 0x40000000-0x47ffffff
expect_eq "node 2 MemTotal (kB)" "$(node_mem)" 131072
grep -F '40000000-47ffffff : System RAM (tiermem_kmem)' /proc/iomem || fail "/proc/iomem lacks the added block"
grep -F '48000000-4fffffff : tiermem_kmem (skipped: bad block)' /proc/iomem || fail "/proc/iomem lacks the skipped block's claim"
numactl -H | grep '^node 2 size' || fail "numactl -H does not show node 2"
step "one block online on node 2, the bad one skipped"

"$PROBE" membind 2 $((64 << 20)) || fail "memory bound to node 2 did not land there"
# The tiered heap's node:2 tier allocates from the onlined block (the issue's proof).
VMCHECK=$TIERMEM_BUILD_DIR/tests/heap/tm_vmcheck
[ -x "$VMCHECK" ] || fail "$VMCHECK is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_vmcheck"
"$VMCHECK" placement node:2 2 || fail "the heap's node:2 blocks are not on node 2"
step "allocation bound to node 2 succeeded, from mbind and from the heap"

dmesg_mark
rmmod tiermem_kmem
expect_dmesg "removing 0x40000000-0x4fffffff from node 2"
expect_eq "node 2 MemTotal after rmmod (kB)" "$(node_mem)" 0
grep -qF tiermem_kmem /proc/iomem && fail "/proc/iomem still shows tiermem_kmem after rmmod: $(grep -F tiermem_kmem /proc/iomem)"
step "unloaded: memory removed"

dmesg_mark
insmod "$KMEM" range=$RANGE target_node=2
expect_dmesg "added 2 of 2 block(s) of 128 MiB to node 2"
expect_eq "skipped_blocks after a clean reload" "$(sysfs_read $S/skipped_blocks)" ""
expect_eq "node 2 MemTotal (kB)" "$(node_mem)" 262144
"$PROBE" membind 2 $((200 << 20)) || fail "memory bound to node 2 did not land there after the reload"
rmmod tiermem_kmem
expect_eq "node 2 MemTotal after the second rmmod (kB)" "$(node_mem)" 0
step "reload onlined both blocks, unload removed them"
no_kernel_complaints
