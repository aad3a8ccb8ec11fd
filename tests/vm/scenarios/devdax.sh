# The NVDIMM as a devdax device: `tiermem list --json` reports dax0.0 as the kernel shows it
# and ranks the tiers DRAM node 0, far node 1, then the tier holding dax0.0 (node 2 is offline
# while the device is in devdax mode).
. "$TIERMEM_VM_LIB"

make_devdax
show_topology

d=/sys/bus/dax/devices/dax0.0
size=$(sysfs_read $d/size)
align=$(sysfs_read $d/align)
target=$(sysfs_read $d/target_node)
expect_eq "sysfs dax0.0 align" "$align" 2097152
expect_eq "sysfs dax0.0 target_node" "$target" 2
expect_eq "dax0.0 driver" "$(dax_driver dax0.0)" device_dax

tiermem_json list.json
json_check list.json "$size" "$align" "$target" <<'PY'
size, align, target = (int(a) for a in args)
d = dax("dax0.0")
if d is None:
    fail("dax_devices has no dax0.0")
for key, want in [("path", "/dev/dax0.0"), ("size", size), ("align", align),
                  ("target_node", target), ("mode", "devdax"), ("driver", "device_dax")]:
    if d.get(key) != want:
        fail(f"dax0.0 {key} is {d.get(key)!r}, the kernel says {want!r}")
    ok(f"dax0.0 {key} = {want!r}")

t0, t1, tdax = tier_of_node(0), tier_of_node(1), tier_of_dax("dax0.0")
if t0 is None or t1 is None:
    fail(f"no tier holds node 0 or node 1 (tiers: {j.get('tiers')})")
if tdax is None:
    fail("no tier lists dax0.0 in its dax_devices")
if t0 is t1:
    fail(f"nodes 0 and 1 share tier {t0['rank']}, but HMAT gives 10 ns/10 GB/s vs 40 ns/2 GB/s")
if not t0["rank"] < t1["rank"] < tdax["rank"]:
    fail(f"tier ranks: node 0 in {t0['rank']}, node 1 in {t1['rank']}, dax0.0 in {tdax['rank']}; "
         "want node 0 < node 1 < dax0.0")
ok(f"tier ranks node 0 ({t0['rank']}) < node 1 ({t1['rank']}) < dax0.0 ({tdax['rank']})")
if tdax.get("kind") == "DRAM":
    fail("the tier holding dax0.0 is reported as DRAM")
if [d.get("name") for d in j["dax_devices"]].count("dax0.0") != 1:
    fail("dax0.0 is listed more than once at the top level")
n0 = node(0)
if n0 is None or not n0.get("has_cpus") or not n0.get("online"):
    fail(f"node 0 should be online with CPUs: {n0}")
n1 = node(1)
if n1 is None or n1.get("has_cpus") or not n1.get("online"):
    fail(f"node 1 should be online without CPUs: {n1}")
ok("node 0 has the CPUs, node 1 is CPU-less")
PY
step "devdax: all checks passed"
