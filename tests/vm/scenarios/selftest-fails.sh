# Fails on purpose: vm.selftest-fails checks that the harness reports it with the reason.
. "$TIERMEM_VM_LIB"
echo "about to fail"
echo "this scenario fails on purpose" >"$TIERMEM_VM_SHARE/reason"
exit 3
