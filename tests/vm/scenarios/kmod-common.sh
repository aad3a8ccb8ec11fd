# Shared by the kmod-*.sh scenarios (sourced, not a scenario itself): the bundled drivers
# from the build tree and the checks on what they print. Needs memmap=256M!1G on the kernel
# command line (see the registrations in tests/vm/CMakeLists.txt).
. "$TIERMEM_VM_LIB"

KMOD=$TIERMEM_BUILD_DIR/kmod
PROBE=$TIERMEM_BUILD_DIR/tests/kmod/kmod_probe
RANGE=0x40000000,256M
for f in "$KMOD/tiermem_dax.ko" "$KMOD/tiermem_kmem.ko" "$PROBE" "$TIERMEM_BUILD_DIR/tests/kmod/kmod_backend_probe" "$TIERMEM_BUILD_DIR/tests/kmod/kmod_discover"; do
  [ -e "$f" ] || fail "$f is not built; run cmake --build $TIERMEM_BUILD_DIR --target tiermem_kmod kmod_probe kmod_backend_probe kmod_discover"
done
grep -q '^40000000-4fffffff : Persistent Memory (legacy)' /proc/iomem ||
  fail "no reserved range 40000000-4fffffff in /proc/iomem: is memmap=256M!1G on the kernel command line? $(grep -i persistent /proc/iomem)"

# dmesg_mark: remember where the kernel log ends; dmesg_since prints what came after.
_dmesg_mark=0
dmesg_mark() { _dmesg_mark=$(dmesg | wc -l); }
dmesg_since() { dmesg | tail -n +"$((_dmesg_mark + 1))"; }

# expect_dmesg TEXT: the kernel logged TEXT (a fixed string) since the last dmesg_mark.
expect_dmesg() {
  local line
  line=$(dmesg_since | grep -F -m1 -- "$1") || fail "dmesg has no line with '$1'; it has: $(dmesg_since | tail -n 5)"
  echo "ok: dmesg: ${line#*] }"
}

# refused WHAT TEXT MODULE ARGS...: insmod MODULE with ARGS must fail, and dmesg must explain
# why with a line containing TEXT.
refused() {
  local what=$1 text=$2 out
  shift 2
  dmesg_mark
  if out=$(insmod "$@" 2>&1); then
    fail "$what: insmod $* succeeded"
  fi
  echo "ok: $what: insmod refused ($out)"
  expect_dmesg "$text"
}

# no_kernel_complaints: nothing in the whole boot's log looks like a kernel bug or a leak.
no_kernel_complaints() {
  local bad
  bad=$(dmesg | grep -E 'BUG|Oops|WARNING|leak|nonexistent resource' || true)
  [ -z "$bad" ] || fail "the kernel complained: $(head -n 3 <<<"$bad")"
  echo "ok: no BUG, Oops, WARNING, leak or nonexistent resource in dmesg"
}
