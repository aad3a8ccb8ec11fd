#!/usr/bin/env bash
# test-install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/tiermem/tiermem.h include/tiermem/topology.hpp bin/tiermem \
         lib/libtiermem.so lib/libtiermem.a lib/cmake/tiermem/tiermemConfig.cmake \
         lib/pkgconfig/tiermem.pc share/man/man1/tiermem.1 share/man/man3/libtiermem.3 \
         share/man/man7/tiermem-policy.7 share/bash-completion/completions/tiermem; do
  [ -e "$prefix/$f" ] || { echo "install: $prefix/$f is missing"; exit 1; }
done
"$prefix/bin/tiermem" list >/dev/null

# 1. CMake package
cmake -S "$src/tests/install/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/list_tiers" | grep -q '^tier 0: DRAM'
"$work/cmake-build/list_tiers_static" | grep -q '^tier 0: DRAM'
TIERMEM_EMULATE=slow:1G LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/heap_cxx" | grep -q '^sum '
TIERMEM_EMULATE=slow:1G LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/heap_cxx_asks_cxx14" | grep -q '^sum '
"$work/cmake-build/topology_cxx" | grep -q '^tier 0 (DRAM)'

# 2. pkg-config
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -o "$work/list_tiers_pc" "$src/examples/list_tiers.c" $(pkg-config --cflags --libs tiermem)
# tiermem.pc carries an rpath: a custom prefix needs no LD_LIBRARY_PATH.
env -u LD_LIBRARY_PATH "$work/list_tiers_pc" | grep -q '^tier 0: DRAM'
c++ -std=c++20 -o "$work/list_tiers_pc_static" "$src/examples/list_tiers.c" -x none \
    $(pkg-config --cflags tiermem) "$prefix/lib/libtiermem.a" -lm -lpthread -ldl
"$work/list_tiers_pc_static" | grep -q '^tier 0: DRAM'
# C++ with the compiler's default standard, as a user types it.
c++ -o "$work/heap_cxx_pc" "$src/examples/heap_cxx.cpp" $(pkg-config --cflags --libs tiermem)
TIERMEM_EMULATE=slow:1G env -u LD_LIBRARY_PATH "$work/heap_cxx_pc" | grep -q '^sum '
c++ -o "$work/topology_pc" "$src/examples/topology.cpp" $(pkg-config --cflags --libs tiermem)
env -u LD_LIBRARY_PATH "$work/topology_pc" | grep -q '^tier 0 (DRAM)'
# Below the headers' standard, the compiler says what to do instead of failing deep inside.
if c++ -std=c++14 -fsyntax-only -x c++ "$src/examples/heap_cxx.cpp" $(pkg-config --cflags tiermem) \
     2>"$work/cxx14.err"; then
  echo "install: heap.hpp compiled as C++14"; exit 1
fi
grep -q 'tiermem/heap.hpp needs C++17' "$work/cxx14.err" ||
  { echo "install: no clear message for C++14:"; head -3 "$work/cxx14.err"; exit 1; }
echo "install: find_package and pkg-config consumers built and ran from $prefix"
