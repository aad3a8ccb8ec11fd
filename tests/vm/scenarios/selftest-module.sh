# Never runs: vm.selftest-module asks for a module the kernel does not have, and checks that
# the harness reports that as the reason the run failed.
. "$TIERMEM_VM_LIB"
fail "the guest ran the scenario although a requested module is missing"
