# Records the guest's topology, in devdax and in kmem state, as sysfs/procfs copies that
# discovery (and hwloc, through HWLOC_FSROOT) reads like the real thing:
#   $TIERMEM_VM_OUT/devdax.tar.xz and kmem.tar.xz, each unpacking to a directory D shaped
#   like / (D/sys/..., D/proc/..., D/topo-cpuid/, D/lstopo.xml).
# `run-scenario capture --out tests/fixtures/vm` refreshes the committed copies.
. "$TIERMEM_VM_LIB"

work=/tmp/capture
mkdir -p "$work"

snapshot=$(dirname "$TIERMEM_VM_LIB")/snapshot-topology.py

# capture STATE: gather into $work/STATE/STATE (= D) and pack $TIERMEM_VM_OUT/STATE.tar.xz.
# hwloc-gather-topology would do much the same but forks per file, which takes minutes
# in a TCG guest; its two hwloc-specific parts are run here directly.
capture() {
  local state=$1 top d
  top=$work/$state
  d=$top/$state
  rm -rf "$top"
  mkdir -p "$top"
  py "$snapshot" "$d" || fail "snapshot-topology.py failed for $state"
  hwloc-gather-cpuid --silent "$d/topo-cpuid" || fail "hwloc-gather-cpuid failed"
  # Older hwloc tarballs and hwloc-gather-topology name it cpuid/.
  ln -s topo-cpuid "$d/cpuid"
  HWLOC_DUMP_NOFILE_INFO=$d/proc/hwloc-nofile-info lstopo-no-graphics - >/dev/null ||
    fail "lstopo failed"
  lstopo-no-graphics --of xml --whole-io - >"$d/lstopo.xml" || fail "lstopo --of xml failed"
  echo "[${SECONDS}s] $state: lstopo.xml written"
  tar -C "$top" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
      -cJf "$TIERMEM_VM_OUT/$state.tar.xz" "$state"
  echo "captured $state: $(stat -c %s "$TIERMEM_VM_OUT/$state.tar.xz") bytes"
}

# verify STATE NODES DRIVER: unpack STATE.tar.xz and check the files discovery needs, their
# values against the live system, and that hwloc reads the copy. In one Python process:
# every exec costs a fraction of a second here.
verify() {
  local state=$1 nodes=$2 driver=$3 v
  v=$work/verify-$state
  rm -rf "$v"
  mkdir -p "$v"
  tar -C "$v" -xJf "$TIERMEM_VM_OUT/$state.tar.xz" || fail "$state.tar.xz does not unpack"
  HWLOC_FSROOT=$v/$state HWLOC_CPUID_PATH=$v/$state/topo-cpuid HWLOC_THISSYSTEM=0 \
    lstopo-no-graphics --of xml - >"$v/from-copy.xml" ||
    fail "lstopo cannot read the $state copy with HWLOC_FSROOT"
  py - "$TIERMEM_VM_OUT/$state.tar.xz" "$v/$state" "$nodes" "$driver" "$v/from-copy.xml" <<'PY'
import glob, os, sys
tarball, d, nodes, driver, from_copy = sys.argv[1:]
def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    with open(os.environ["TIERMEM_VM_SHARE"] + "/reason", "w") as r:
        r.write(msg + "\n")
    sys.exit(1)
def read(path):
    with open(path) as f:
        return f.read().strip()
state = os.path.basename(d)
size = os.path.getsize(tarball)
if size >= 1 << 20:
    fail(f"{state}.tar.xz is {size} bytes, over the 1 MiB budget")
key = """proc/cpuinfo proc/meminfo
  sys/devices/system/node/online sys/devices/system/node/has_cpu sys/devices/system/node/has_memory
  sys/devices/system/node/node0/cpulist sys/devices/system/node/node0/meminfo
  sys/devices/system/node/node0/distance sys/devices/system/node/node1/meminfo
  sys/devices/system/node/node1/access0/initiators/read_latency
  sys/devices/system/node/node1/access0/initiators/read_bandwidth
  sys/devices/system/cpu/online sys/devices/system/cpu/cpu0/topology/core_id
  sys/bus/dax/devices/dax0.0/size sys/bus/dax/devices/dax0.0/align
  sys/bus/dax/devices/dax0.0/target_node sys/bus/dax/devices/dax0.0/numa_node
  sys/bus/dax/devices/dax0.0/resource topo-cpuid/hwloc-cpuid-info lstopo.xml""".split()
for f in key:
    if not os.path.isfile(os.path.join(d, f)) or os.path.getsize(os.path.join(d, f)) == 0:
        fail(f"{state}.tar.xz lacks {f}")
print(f"ok: {state}.tar.xz has the {len(key)} key files")
live_tiers = sorted(glob.glob("/sys/devices/virtual/memory_tiering/memory_tier*/nodelist"))
if not live_tiers:
    fail("the live system has no memory_tiering/memory_tier*/nodelist")
compare = ["/sys/bus/dax/devices/dax0.0/" + a for a in ("size", "align", "target_node", "resource")]
compare += ["/sys/devices/system/node/online", "/sys/devices/system/node/has_memory"] + live_tiers
compare += glob.glob("/sys/devices/system/node/node*/access0/initiators/*_latency")
for live in compare:
    copy = d + live
    if not os.path.isfile(copy):
        fail(f"{state}.tar.xz lacks {live}")
    if read(copy) != read(live):
        fail(f"{state} copy of {live} is {read(copy)!r}, the live system says {read(live)!r}")
print(f"ok: {len(compare)} attributes equal the live ones")
if read(d + "/sys/devices/system/node/online") != nodes:
    fail(f"{state} copy shows nodes {read(d + '/sys/devices/system/node/online')} online, want {nodes}")
link = d + "/sys/bus/dax/devices/dax0.0/driver"
if not os.path.islink(link) or os.path.basename(os.readlink(link)) != driver:
    fail(f"{state} copy of dax0.0/driver should be a symlink to {driver}")
if os.readlink(link) != os.readlink("/sys/bus/dax/devices/dax0.0/driver"):
    fail(f"{state} copy of dax0.0/driver points elsewhere than the live link")
print(f"ok: dax0.0/driver is a symlink to {driver}")
want = sum(1 if "-" not in p else int(p.split("-")[1]) - int(p.split("-")[0]) + 1
           for p in nodes.split(","))
for what, xml in (("hwloc reading the copy", read(from_copy)), ("lstopo.xml", read(d + "/lstopo.xml"))):
    got = xml.count('<object type="NUMANode"')
    if got != want:
        fail(f"{what} finds {got} NUMA nodes in the {state} copy, want {want}")
    print(f"ok: {what} finds {want} NUMA nodes")
print(f"verified {state}.tar.xz ({size} bytes)")
PY
  echo "[${SECONDS}s] $state verified"
}

make_devdax
capture devdax
verify devdax 0-1 device_dax

to_system_ram dax0.0
capture kmem
verify kmem 0-2 kmem
ls -l "$TIERMEM_VM_OUT"
