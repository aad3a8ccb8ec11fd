# Real hardware poison (MADV_HWPOISON) in a heap block on a device-dax tier (2 MiB units,
# si_addr_lsb 21): the injection's SIGBUS is reported naming the block and the tier, then
# passed to the program's handler; tm_copy_mc stops at the unit; the callback names the
# block; freeing it quarantines it and 5000 later allocations never overlap the unit; every
# other block is intact. Repair mode refuses device memory and says so. QEMU cannot raise a
# real machine check; MADV_HWPOISON drives the kernel's memory_failure() as one would.
. "$(dirname "${BASH_SOURCE[0]}")/poison-heap-common.sh"

make_devdax
probe report "$P" dax:dax0.0 report
grep -q "bytes on tier -1 (dax:dax0.0) lost its data at offset" report.err ||
  fail "report: tiermem's stderr line does not name the block's tier dax:dax0.0"
step "devdax, report mode: all checks passed"

# Fresh memory for the second injection: a 64 MiB filler moves the blocks on.
probe repair TIERMEM_POISON=repair "$P" dax:dax0.0 repair 64
grep -q "TIERMEM_POISON=repair does not cover tier 'dax:dax0.0'" repair.err ||
  fail "repair: tiermem did not say that the devdax tier cannot be repaired"
grep -q "not repaired: only a node tier's pages can be replaced" repair.err ||
  fail "repair: the report does not say the poison was not repaired"
step "poison-heap-devdax: all checks passed"
