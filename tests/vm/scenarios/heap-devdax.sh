# The tiered heap on a real device-dax device: blocks on dax:dax0.0 lie inside this
# process's /dev/dax0.0 mapping; a second process is refused the busy device with the
# holder's pid; a forked child gets a private copy; exhausting the device fails under bind and spills to DRAM under preferred.
. "$TIERMEM_VM_LIB"

H=$TIERMEM_BUILD_DIR/tests/heap
for b in tm_vmcheck tm_probe; do
  [ -x "$H/$b" ] || fail "$H/$b is not built; run cmake --build $TIERMEM_BUILD_DIR --target $b"
done
make_devdax
show_topology

"$H/tm_vmcheck" inside dax:dax0.0 /dev/dax0.0 || fail "heap blocks are not inside the /dev/dax0.0 mapping"
step "placement checked"
"$H/tm_vmcheck" fork dax:dax0.0 || fail "fork shared the device memory between parent and child"

"$H/tm_vmcheck" hold dax:dax0.0 60 >holder.out &
holder=$!
for _ in $(seq 1 100); do
  grep -q holding holder.out 2>/dev/null && break
  sleep 0.2
done
grep -q holding holder.out || fail "the holder never opened dax:dax0.0: $(cat holder.out)"
rc=0
out=$("$H/tm_probe" dax:dax0.0 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "a second process was not refused the busy device (status $rc): $out"
case "$out" in
  *"/dev/dax0.0 is busy (held by pid $holder); stop that process or pick another device"*)
    echo "ok: second process refused: $out" ;;
  *) fail "the refusal does not name the holder pid $holder: $out" ;;
esac
kill "$holder"
wait "$holder" || true
step "busy device refused"

"$H/tm_vmcheck" exhaust-bind dax:dax0.0 || fail "bind(dax:dax0.0) did not end in ENOMEM"
"$H/tm_vmcheck" exhaust-preferred dax:dax0.0 node:0 || fail "preferred(dax:dax0.0, node:0) did not spill"
step "heap-devdax: all checks passed"
