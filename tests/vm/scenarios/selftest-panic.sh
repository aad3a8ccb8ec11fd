# Crashes the kernel: vm.selftest-panic checks that the harness reports the panic as the
# reason the run failed.
. "$TIERMEM_VM_LIB"
echo "crashing the guest kernel through sysrq"
sync
echo c >/proc/sysrq-trigger
sleep 60
