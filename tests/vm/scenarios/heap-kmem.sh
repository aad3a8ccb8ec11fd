# The tiered heap on kmem memory: blocks bound to the NVDIMM's node (as node:2, and as
# dax:dax0.0 once the device is system-ram) really sit on that node, per get_mempolicy; the
# other tiers' blocks sit on theirs.
. "$TIERMEM_VM_LIB"

H=$TIERMEM_BUILD_DIR/tests/heap
[ -x "$H/tm_vmcheck" ] || fail "$H/tm_vmcheck is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_vmcheck"
make_devdax
to_system_ram dax0.0
show_topology

"$H/tm_vmcheck" placement node:2 2 || fail "node:2 blocks are not on node 2"
"$H/tm_vmcheck" placement dax:dax0.0 2 || fail "dax:dax0.0 (system-ram) blocks are not on its target node 2"
"$H/tm_vmcheck" placement node:1 1 || fail "node:1 blocks are not on node 1"
"$H/tm_vmcheck" placement rank:0 0 || fail "rank:0 blocks are not on node 0"
step "heap-kmem: all checks passed"
