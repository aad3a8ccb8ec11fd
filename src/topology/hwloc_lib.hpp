// libhwloc, loaded when discovery first needs it rather than with libtiermem. Most processes
// under the preload library never call into hwloc (its answer comes from the per-boot cache,
// hwloc_cache.hpp), yet loading libhwloc and its libudev cost every one of them a tenth of
// /bin/true's run time. The table holds the functions discovery calls, typed from hwloc's
// own header; nothing else in tiermem refers to an hwloc symbol (the library is not linked,
// so a direct call would not link).
#pragma once
#include <hwloc.h>

namespace tiermem::topology {

struct HwlocLib {
  decltype(&::hwloc_topology_init) topology_init;
  decltype(&::hwloc_topology_destroy) topology_destroy;
  decltype(&::hwloc_topology_set_flags) topology_set_flags;
  decltype(&::hwloc_topology_set_io_types_filter) topology_set_io_types_filter;
  decltype(&::hwloc_topology_set_xml) topology_set_xml;
  decltype(&::hwloc_topology_load) topology_load;
  decltype(&::hwloc_get_type_depth) get_type_depth;
  decltype(&::hwloc_get_nbobjs_by_depth) get_nbobjs_by_depth;
  decltype(&::hwloc_get_obj_by_depth) get_obj_by_depth;
  decltype(&::hwloc_bitmap_iszero) bitmap_iszero;
  decltype(&::hwloc_bitmap_intersects) bitmap_intersects;
  decltype(&::hwloc_memattr_get_initiators) memattr_get_initiators;
  decltype(&::hwloc_memattr_get_flags) memattr_get_flags;
};

/** Loads libhwloc once (thread-safe). Throws tiermem::Error naming the library when missing. */
const HwlocLib &hwloc_lib();

}  // namespace tiermem::topology
