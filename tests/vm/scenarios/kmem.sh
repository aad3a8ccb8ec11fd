# The NVDIMM handed to the kernel as memory (daxctl system-ram): node 2 comes online without
# CPUs, the kernel puts it in a lower memory tier than nodes 0-1, and `tiermem list --json`
# shows it in its slowest tier with dax0.0 (mode system-ram) listed there.
. "$TIERMEM_VM_LIB"

make_devdax
to_system_ram dax0.0
show_topology

[ -d /sys/devices/system/node/node2 ] || fail "node 2 did not come online after daxctl system-ram"
kt0=$(memory_tier_of 0)
kt1=$(memory_tier_of 1)
kt2=$(memory_tier_of 2)
[ -n "$kt0" ] && [ -n "$kt1" ] && [ -n "$kt2" ] ||
  fail "memory_tiering does not list every node (node 0: '$kt0', node 1: '$kt1', node 2: '$kt2')"
expect_eq "kernel memory tier of node 1" "$kt1" "$kt0"
[ "$kt2" -gt "$kt0" ] || fail "the kernel put node 2 in memory_tier$kt2, not below nodes 0-1 (memory_tier$kt0)"
echo "ok: kernel memory tiers: nodes 0-1 in memory_tier$kt0, node 2 in memory_tier$kt2"
mem2_kb=$(awk '/MemTotal/ { print $4 }' /sys/devices/system/node/node2/meminfo)

tiermem_json list.json
json_check list.json "$kt0" "$kt1" "$kt2" "$mem2_kb" <<'PY'
kt = {0: int(args[0]), 1: int(args[1]), 2: int(args[2])}
mem2 = int(args[3]) * 1024
n2 = node(2)
if n2 is None:
    fail("nodes has no node 2")
if not n2.get("online") or n2.get("has_cpus"):
    fail(f"node 2 should be online and CPU-less: {n2}")
ok("node 2 is online and CPU-less")
cap = n2.get("capacity_bytes") or 0
if abs(cap - mem2) > mem2 // 10:
    fail(f"node 2 capacity_bytes {cap} is far from its MemTotal {mem2}")
ok(f"node 2 capacity_bytes {cap} ~ MemTotal {mem2}")
for n, want in kt.items():
    got = (node(n) or {}).get("memory_tier")
    if got != want:
        fail(f"node {n} memory_tier is {got!r}, /sys/devices/virtual/memory_tiering says {want}")
    ok(f"node {n} memory_tier = {want}")

slowest = max(j["tiers"], key=lambda t: t["rank"])
t2 = tier_of_node(2)
if t2 is not slowest:
    fail(f"node 2 is in tier {t2 and t2['rank']}, not in the slowest tier {slowest['rank']}")
ok(f"node 2 is in the slowest tier (rank {slowest['rank']})")
for n in (0, 1):
    t = tier_of_node(n)
    if t is None or t["rank"] >= slowest["rank"]:
        fail(f"node {n} should rank above node 2 (its tier: {t and t['rank']})")
ok("nodes 0 and 1 rank above node 2")
d = next((d for d in slowest.get("dax_devices", []) if d.get("name") == "dax0.0"), None)
if d is None:
    fail(f"dax0.0 is not in the dax_devices of node 2's tier: {slowest.get('dax_devices')}")
if d.get("mode") != "system-ram":
    fail(f"dax0.0 mode is {d.get('mode')!r}, want 'system-ram'")
if d.get("driver") != "kmem":
    fail(f"dax0.0 driver is {d.get('driver')!r}, the kernel says 'kmem'")
if d.get("target_node") != 2:
    fail(f"dax0.0 target_node is {d.get('target_node')!r}, want 2")
ok("dax0.0 is listed in node 2's tier with mode system-ram, driver kmem")
top = dax("dax0.0")
if top is None or top.get("mode") != "system-ram":
    fail(f"top-level dax_devices entry for dax0.0 is {top}")
ok("top-level dax0.0 entry agrees")
PY
step "kmem: all checks passed"
