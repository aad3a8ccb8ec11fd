#include "topology/hwloc_lib.hpp"

#include <dlfcn.h>

#include <cerrno>
#include <mutex>
#include <string>

#include "tiermem/error.hpp"

#ifndef TIERMEM_HWLOC_SONAME
#error "TIERMEM_HWLOC_SONAME must name the libhwloc that the headers belong to (src/topology/sources.cmake)"
#endif

namespace tiermem::topology {
namespace {

struct Loaded {
  HwlocLib lib{};
  std::string error;
};

template <class F>
void bind(void *handle, F &f, const char *name, std::string &error) {
  f = reinterpret_cast<F>(::dlsym(handle, name));
  if (f == nullptr && error.empty()) error = std::string("it has no ") + name;
}

Loaded load() {
  Loaded l;
  void *h = ::dlopen(TIERMEM_HWLOC_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char *why = ::dlerror();
    l.error = why ? why : "dlopen failed";
    return l;
  }
  HwlocLib &f = l.lib;
  bind(h, f.topology_init, "hwloc_topology_init", l.error);
  bind(h, f.topology_destroy, "hwloc_topology_destroy", l.error);
  bind(h, f.topology_set_flags, "hwloc_topology_set_flags", l.error);
  bind(h, f.topology_set_io_types_filter, "hwloc_topology_set_io_types_filter", l.error);
  bind(h, f.topology_set_xml, "hwloc_topology_set_xml", l.error);
  bind(h, f.topology_load, "hwloc_topology_load", l.error);
  bind(h, f.get_type_depth, "hwloc_get_type_depth", l.error);
  bind(h, f.get_nbobjs_by_depth, "hwloc_get_nbobjs_by_depth", l.error);
  bind(h, f.get_obj_by_depth, "hwloc_get_obj_by_depth", l.error);
  bind(h, f.bitmap_iszero, "hwloc_bitmap_iszero", l.error);
  bind(h, f.bitmap_intersects, "hwloc_bitmap_intersects", l.error);
  bind(h, f.memattr_get_initiators, "hwloc_memattr_get_initiators", l.error);
  bind(h, f.memattr_get_flags, "hwloc_memattr_get_flags", l.error);
  return l;  // the handle stays open for the life of the process
}

}  // namespace

const HwlocLib &hwloc_lib() {
  static const Loaded loaded = load();  // a magic static: one load, whichever thread asks
  if (!loaded.error.empty())
    throw Error(-ENOENT, std::string("tiermem: cannot load " TIERMEM_HWLOC_SONAME
                                     ", which discovery needs: ") +
                             loaded.error + "; install the libhwloc package (Debian: libhwloc15)");
  return loaded.lib;
}

}  // namespace tiermem::topology
