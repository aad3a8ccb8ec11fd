. "$TIERMEM_VM_LIB"
make_devdax
cd /tmp
s=$(date +%s)
find /sys/devices/system/cpu /sys/devices/system/node /sys/bus/dax/ -type f | wc -l
find /sys/devices/pci0000:00 -type f | wc -l
echo "find: $(( $(date +%s) - s ))s"
s=$(date +%s)
timeout 100 sh -x /usr/bin/hwloc-gather-topology /tmp/x > $TIERMEM_VM_OUT/gather.log 2>&1 || echo "gather rc=$?"
echo "gather no-io: $(( $(date +%s) - s ))s"
ls -la /tmp
