# Helpers for guest scenarios: `. "$TIERMEM_VM_LIB"` at the top of a scenario.
#
# A scenario runs as root in the guest, chrooted into the host's root, with cwd =
# $TIERMEM_VM_OUT (writable, copied out by `run-scenario --out DIR`). Its exit status is the
# test's result; its stdout and stderr are shown by the harness.
#
# Environment: TIERMEM (the CLI), TIERMEM_BUILD_DIR, TIERMEM_SOURCE_DIR, TIERMEM_VM_OUT,
# TIERMEM_VM_SHARE, TIERMEM_VM_KROOT and TIERMEM_VM_KREL (the booted kernel's module tree).
#
# The machine: node 0 DRAM with both CPUs (HMAT 10 ns, 10 GB/s), node 1 CPU-less far memory
# (40 ns, 2 GB/s), node 2 CPU-less NVDIMM (120 ns, 1 GB/s; offline until dax0.0 becomes
# system-ram). Loaded: nfit, nd_pmem, dax_pmem, device_dax, kmem, hwpoison-inject; debugfs is
# mounted.

set -Eeuo pipefail

# A command failing under `set -e` names itself as the reason, unless fail() gave one.
trap '_tm_rc=$?; [ -s "$TIERMEM_VM_SHARE/reason" ] || echo "status $_tm_rc from \"$BASH_COMMAND\" (${BASH_SOURCE[0]##*/}:$LINENO)" >"$TIERMEM_VM_SHARE/reason"' ERR

# fail REASON: stop the scenario; the harness reports REASON as the cause of the failure.
fail() {
  echo "FAIL: $*" >&2
  echo "$*" >"$TIERMEM_VM_SHARE/reason"
  exit 1
}

# step WHAT: a progress line with the seconds since the scenario started (TCG is slow:
# these show where the time goes).
step() { echo "[${SECONDS}s] $*"; }

# check DESCRIPTION COMMAND...: run COMMAND; fail with DESCRIPTION if it fails.
check() {
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else fail "$what (command: $*)"; fi
}

# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
  if [ "$2" = "$3" ]; then echo "ok: $1 = $3"; else fail "$1: got '$2', expected '$3'"; fi
}

# Debian's python3, whatever a developer's PATH prefers on the host; -I -S skip the site
# setup, which costs seconds of 9p lookups in the guest.
PY=/usr/bin/python3
py() { "$PY" -I -S "$@"; }

# json_get FILE EXPR: print a Python expression over the JSON document `j` in FILE.
# Strings print bare, everything else as JSON (null, true, [0, 1]); e.g.
#   json_get list.json '[t["rank"] for t in j["tiers"] if 2 in t["numa_nodes"]][0]'
json_get() {
  py - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
v = eval(sys.argv[2], {"j": j})
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# need_tiermem: fail clearly when the CLI was not built.
need_tiermem() {
  [ -x "$TIERMEM" ] || fail "$TIERMEM is not built; run cmake --build $TIERMEM_BUILD_DIR --target tiermem-cli"
}

# tiermem_json FILE: write `tiermem list --json` to FILE (and show it).
tiermem_json() {
  need_tiermem
  "$TIERMEM" list --json >"$1" || fail "tiermem list --json exited with status $?"
  step "tiermem list --json ran"
  echo "--- tiermem list --json"
  cat "$1"
  echo
}

# make_devdax [ALIGN]: turn the NVDIMM's namespace0.0 into /dev/dax0.0 (devdax, 2M align).
make_devdax() {
  local align=${1:-2M}
  ndctl create-namespace -f -e namespace0.0 -m devdax -a "$align" >/dev/null ||
    fail "ndctl create-namespace -m devdax -a $align failed"
  [ -e /sys/bus/dax/devices/dax0.0 ] || fail "no /sys/bus/dax/devices/dax0.0 after ndctl create-namespace"
  [ -c /dev/dax0.0 ] || fail "no /dev/dax0.0 after ndctl create-namespace"
  step "dax0.0 created (devdax, align $align)"
}

# to_system_ram [DEV]: hand a dax device (default dax0.0) to the kernel as a memory node.
to_system_ram() {
  local dev=${1:-dax0.0}
  daxctl reconfigure-device --mode=system-ram "$dev" >/dev/null ||
    fail "daxctl reconfigure-device --mode=system-ram $dev failed"
  [ "$(dax_driver "$dev")" = kmem ] || fail "$dev is bound to '$(dax_driver "$dev")' after daxctl, not kmem"
  step "$dev is system-ram"
}

# dax_driver DEV: the driver a dax device is bound to (device_dax, kmem) or "none".
dax_driver() {
  local link=/sys/bus/dax/devices/$1/driver target
  if [ -L "$link" ]; then target=$(readlink "$link"); echo "${target##*/}"; else echo none; fi
}

# sysfs_read PATH: the content of a sysfs file, failing the scenario if it is missing.
sysfs_read() {
  [ -r "$1" ] || fail "missing $1"
  echo "$(<"$1")"
}

# in_list N LIST: whether N is in a kernel list like "0-1,4" (pure bash: no exec).
in_list() {
  local n=$1 part lo hi
  local IFS=,
  for part in $2; do
    lo=${part%-*}; hi=${part#*-}
    [ -n "$lo" ] || continue
    if [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ]; then return 0; fi
  done
  return 1
}

# memory_tier_of NODE: the id of the kernel memory tier (memory_tiering/memory_tierN) whose
# nodelist holds NODE, or nothing.
memory_tier_of() {
  local node=$1 f list
  for f in /sys/devices/virtual/memory_tiering/memory_tier*/nodelist; do
    [ -e "$f" ] || continue
    read -r list <"$f"
    if in_list "$node" "$list"; then
      f=${f%/nodelist}; echo "${f##*memory_tier}"; return 0
    fi
  done
}

# show_topology: print what the kernel shows, for the log.
show_topology() {
  echo "--- numactl -H"; numactl -H || true
  echo "--- memory tiers"
  local f
  for f in /sys/devices/virtual/memory_tiering/memory_tier*/nodelist; do
    [ -e "$f" ] && echo "$f: $(<"$f")"
  done
  echo "--- dax devices"
  for f in /sys/bus/dax/devices/*; do
    [ -e "$f" ] || continue
    echo "${f##*/}: size=$(<"$f/size") align=$(<"$f/align") target_node=$(<"$f/target_node") driver=$(dax_driver "${f##*/}")"
  done
}

# json_check FILE [ARG...] <<'PY' ... PY: run Python checks over the JSON document in FILE.
# The code sees `j` (the document), `args` (the ARGs), ok(msg), fail(msg) (stops the scenario
# with msg as the reason) and the helpers tier_of_node(n), tier_of_dax(name), node(n),
# dax(name) (each None when absent).
json_check() {
  local file=$1 prog
  shift
  prog=$(mktemp /tmp/json_check.XXXXXX.py)
  cat >"$prog" <<'EOF_PRELUDE'
import json, os, sys
args = sys.argv[2:]
def ok(msg):
    print("ok: " + msg)
def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    with open(os.environ["TIERMEM_VM_SHARE"] + "/reason", "w") as r:
        r.write(msg + "\n")
    sys.exit(1)
with open(sys.argv[1]) as f:
    text = f.read()
try:
    j = json.loads(text)
except ValueError as e:
    fail(f"{sys.argv[1]} is not valid JSON ({e}): {text[:300]!r}")
def tier_of_node(n):
    return next((t for t in j.get("tiers", []) if n in t.get("numa_nodes", [])), None)
def tier_of_dax(name):
    return next((t for t in j.get("tiers", [])
                 if any(d.get("name") == name for d in t.get("dax_devices", []))), None)
def node(n):
    return next((x for x in j.get("nodes", []) if x.get("os_index") == n), None)
def dax(name):
    return next((d for d in j.get("dax_devices", []) if d.get("name") == name), None)
EOF_PRELUDE
  cat >>"$prog"
  local rc=0
  py "$prog" "$file" "$@" || rc=$?
  rm -f "$prog"
  [ "$rc" = 0 ] || exit "$rc"
}
