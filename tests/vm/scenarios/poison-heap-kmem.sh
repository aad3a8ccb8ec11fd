# Real hardware poison (MADV_HWPOISON) in a heap block on a kmem tier (the NVDIMM onlined as
# node 2; 4 KiB units): tm_copy_mc stops at the page; the callback names the block; a plain
# load is reported on stderr naming the block and tier, then passed to the program's handler
# (report), or kills the process by SIGBUS when the program has none, or — repair mode —
# reads a fresh zeroed page and the program goes on. A poisoned block is quarantined when
# freed, 5000 later allocations never overlap it, and every other block stays intact.
. "$(dirname "${BASH_SOURCE[0]}")/poison-heap-common.sh"
LINE="tiermem: uncorrectable memory error (SIGBUS BUS_MCEERR_AR)"

make_devdax
to_system_ram dax0.0

probe report "$P" node:2 report
grep -q "$LINE" report.err || fail "report: no report of the plain load on stderr"
grep -q "on tier [-0-9]* (node:2) lost its data at offset" report.err ||
  fail "report: the stderr line does not name the block's tier node:2"
step "kmem, report mode: all checks passed"

probe repair TIERMEM_POISON=repair "$P" node:2 repair 64
grep -q "repaired: the unit is a fresh zeroed page now and the program continues" repair.err ||
  fail "repair: the report does not say the page was repaired"
step "kmem, repair mode: the program continued"

rc=0
"$P" node:2 die 128 >die.out 2>die.err || rc=$?
cat die.out die.err
[ "$rc" = 135 ] || fail "die: a plain load of poison without a program handler ended with status $rc, not death by SIGBUS (135)"
grep -q "$LINE" die.err || fail "die: no report on stderr before the process died"
grep -q "passing SIGBUS on to the program's handler or the default action" die.err ||
  fail "die: the report does not say SIGBUS is passed on"
step "poison-heap-kmem: all checks passed"
