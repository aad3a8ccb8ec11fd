# The access-tracking sources migration between tiers can use on Debian's stock 6.1 kernel,
# which has no idle page tracking and no DAMON: soft-dirty bits in /proc/self/pagemap after
# clear_refs 4 see exactly the written pages, and smaps' Referenced after clear_refs 1 sees
# every touched page, on anonymous memory, on the far-memory node, on /dev/dax0.0 and on the
# same device onlined as a node (kmem). Base pages: a huge page has one bit for 512 pages.
. "$TIERMEM_VM_LIB"

P=$TIERMEM_BUILD_DIR/tests/migrate/tm_track_probe
[ -x "$P" ] || fail "$P is not built; run cmake --build $TIERMEM_BUILD_DIR --target tm_track_probe"
check() { local out; out=$("$P" "$1" 64) || fail "tracking bits on $1 are not what tiermem relies on: $out"; echo "$out"; }
check anon
check node:1
make_devdax
check dax:/dev/dax0.0
to_system_ram dax0.0
check node:2
step "track-sources: soft-dirty and Referenced see every access on every kind of memory"
