# `tiermem scrub` on the NVDIMM as /dev/dax0.0: a clean device reports 0 bad; Ctrl-C stops a
# scrub with a partial report and changes nothing; poison injected while a scrub runs is
# reported at its offset, and --clear says that QEMU's NVDIMM cannot clear it (its bus has no
# ARS commands); an unprivileged user is refused.
#
# QEMU cannot produce a real memory error, so poison is injected with MADV_HWPOISON on a page
# of a second mapping of /dev/dax0.0: the kernel's memory_failure() then treats the page as a
# machine check would. What Linux 6.1 does for device-dax (mf_generic_kill_procs): it marks
# the page HWPoison, zaps every mapping of the 2 MiB unit, sends BUS_MCEERR_AR to the
# injecting process and BUS_MCEERR_AO to every process that asked for early reports
# (PR_MCE_KILL_EARLY, as the scrub does) and has the unit mapped (the scrub maps with
# MAP_POPULATE). It records nothing else: no badblocks entry, no HardwareCorrupted count, and
# under QEMU the page reads fine afterwards, so a scrub started later finds nothing. That is
# why the injection happens while the scrub holds the device (stopped with SIGSTOP, so the
# order is fixed and no timing decides the result). The stop may land right after the scrub's
# mmap returns: the scrub asks for early reports before mapping and keeps SIGBUS blocked until
# it has registered the range (CI once stopped it before it asked, and the kernel sent it
# nothing).
. "$TIERMEM_VM_LIB"
need_tiermem
make_devdax
size=$(sysfs_read /sys/bus/dax/devices/dax0.0/size)

# dax_py CODE: Python with `m`, a shared read-write mapping of the first 4 MiB of /dev/dax0.0
# (fill/sum helpers over it); writes nothing unless CODE does.
dax_py() {
  py - "$@" <<'PY'
import mmap, os, sys, zlib
fd = os.open("/dev/dax0.0", os.O_RDWR)
off = int(sys.argv[1], 0)
m = mmap.mmap(fd, 4 << 20, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=off)
exec(sys.argv[2])
PY
}

# wait_mapped PID [sigint]: wait until the scrub PID has mapped the device (its MAP_POPULATE
# mmap has returned once the process can be stopped outside the system call), and with
# "sigint" also until it catches SIGINT (SigCgt bit 1: a background job of this shell starts
# with SIGINT ignored). Shell builtins only: an exec costs a fraction of a second under TCG.
wait_mapped() {
  local i k v line cgt mapped
  for i in $(seq 600); do
    mapped=0 cgt=0
    while read -r line; do [[ $line == */dev/dax0.0* ]] && mapped=1; done <"/proc/$1/maps" 2>/dev/null || true
    while read -r k v; do [ "$k" = SigCgt: ] && cgt=$((0x$v)); done <"/proc/$1/status" 2>/dev/null || true
    if [ "$mapped" = 1 ] && { [ "${2:-}" != sigint ] || (( cgt & 2 )); }; then return 0; fi
    kill -0 "$1" 2>/dev/null || fail "the scrub (pid $1) ended before it mapped /dev/dax0.0: $(cat scrub.err)"
    sleep 0.05
  done
  fail "the scrub (pid $1) did not map /dev/dax0.0"
}

step "refusals"
rc=0
setpriv --reuid 65534 --regid 65534 --clear-groups "$TIERMEM" scrub dax0.0 2>err.txt || rc=$?
expect_eq "scrub as nobody: exit status" "$rc" 2
grep -q "tiermem: cannot open /dev/dax0.0: Permission denied; run as root or join the device's group" err.txt ||
  fail "scrub as nobody: $(cat err.txt)"

step "a clean device"
dax_py 0 'm[:4 << 20] = bytes(range(256)) * (16 << 10); print(zlib.crc32(m[:]))' >crc.before
rc=0
# On a terminal (script(1) gives it one, on a devpts the guest lacks) the scrub draws a
# progress bar.
if [ ! -e /dev/pts/ptmx ]; then
  mkdir -p /dev/pts
  mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts || fail "cannot mount devpts for script(1)"
  [ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
fi
script -qec "$TIERMEM scrub dax0.0 --json clean.json" /dev/null >clean.out 2>&1 || rc=$?
tr '\r' '\n' <clean.out | grep -a -e "scrub \[" -e "scrubbed" | tail -2
grep -q "scrub \[########################################\] 100%  1006.0 MiB of 1006.0 MiB" clean.out ||
  fail "no progress bar reaching 100% on the terminal"
expect_eq "scrub of a clean device: exit status" "$rc" 0
grep -q "dax0.0: scrubbed 1006.0 MiB of 1006.0 MiB, 0 bad ranges" clean.out || fail "no clean summary line"
json_check clean.json "$size" <<'PY'
size = int(args[0])
for k, want in [("device", "dax0.0"), ("size", size), ("scanned_bytes", size), ("complete", True),
                ("interrupted", False), ("bad", [])]:
    if j.get(k) != want:
        fail(f"clean scrub report: {k} is {j.get(k)!r}, want {want!r}")
ok("clean scrub report: every byte scanned, 0 bad")
PY

step "Ctrl-C"
"$TIERMEM" scrub dax0.0 --json partial.json >scrub.out 2>scrub.err &
pid=$!
wait_mapped "$pid" sigint
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
cat scrub.out scrub.err
expect_eq "interrupted scrub: exit status" "$rc" 130
grep -q "interrupted after .*; the report is partial, nothing was changed" scrub.err ||
  fail "the interrupted scrub did not say so on stderr"
json_check partial.json "$size" <<'PY'
size = int(args[0])
if j.get("complete") is not False or j.get("interrupted") is not True:
    fail(f"partial report: complete={j.get('complete')!r} interrupted={j.get('interrupted')!r}")
if not 0 <= j.get("scanned_bytes", -1) < size:
    fail(f"partial report: scanned_bytes {j.get('scanned_bytes')!r} of {size}")
ok(f"partial report: {j['scanned_bytes']} of {size} bytes scanned, marked interrupted")
PY
dax_py 0 'print(zlib.crc32(m[:]))' >crc.after
expect_eq "CRC of the first 4 MiB after the scrubs" "$(cat crc.after)" "$(cat crc.before)"

step "poison injected while a scrub runs"
victim_unit=$((0x3e000000))   # 992 MiB: far past where the scrub is when it is stopped
"$TIERMEM" scrub dax0.0 --clear --json poisoned.json >scrub.out 2>scrub.err &
pid=$!
wait_mapped "$pid"
kill -STOP "$pid"
# MADV_HWPOISON on one 4 KiB page 8 KiB into the unit; the injector itself dies of SIGBUS.
rc=0
dax_py "$victim_unit" 'm[8192] = 1; m.madvise(mmap.MADV_HWPOISON, 8192, 4096); print("not signalled")' || rc=$?
expect_eq "the injecting process died of SIGBUS (128 + 7)" "$rc" 135
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
cat scrub.out scrub.err
expect_eq "scrub that met poison: exit status" "$rc" 1
json_check poisoned.json "$victim_unit" "$size" <<'PY'
unit, size = int(args[0]), int(args[1])
if not j.get("complete") or j.get("scanned_bytes") != size:
    fail(f"the scrub did not finish: {j}")
bad = j.get("bad")
want = [{"offset": unit, "length": 2 << 20, "source": "read"}]
if bad != want:
    fail(f"bad ranges {bad!r}, want the poisoned 2 MiB unit {want!r}")
ok(f"the poisoned unit at offset {unit:#x} (2 MiB, devdax's unit) is reported")
c = j.get("clear") or {}
if c.get("cleared_bytes") != 0 or "does not support clearing errors" not in (c.get("error") or ""):
    fail(f"--clear on QEMU's NVDIMM (no ARS commands) should say it cannot clear: {c}")
ok("--clear says plainly that QEMU's NVDIMM bus cannot clear errors")
PY
grep -q "tiermem: cannot clear errors on dax0.0: the NVDIMM bus ndbus0 (.*) does not support clearing errors (no ARS clear-error command); they remain" scrub.err ||
  fail "--clear did not say on stderr that it cannot clear"
step "scrub: all checks passed"
