# Temporary: checks that the harness boots and that the NVDIMM is there.
. "$TIERMEM_VM_LIB"
show_topology
make_devdax
show_topology
ls /sys/devices/system/node/node2/ || true
cat /sys/devices/system/node/node*/access0/initiators/* 2>/dev/null | head
