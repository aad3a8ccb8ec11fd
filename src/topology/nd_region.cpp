#include "topology/nd_region.hpp"

#include <cerrno>

#include "tiermem/error.hpp"

namespace tiermem::topology {

std::vector<NdRegion> nd_regions_holding(const platform::SysfsRoot &root,
                                         const std::vector<DaxExtent> &extents) {
  const std::string nd = "sys/bus/nd/devices/";
  std::vector<NdRegion> out;
  for (const std::string &region : root.list(nd)) {
    if (region.rfind("region", 0) != 0) continue;
    auto start = root.read_u64_optional(nd + region + "/resource");
    auto size = root.read_u64_optional(nd + region + "/size");
    if (!start || !size || *size == 0) continue;  // a region without memory of its own
    bool overlaps = false;
    for (const auto &x : extents)
      overlaps = overlaps || (x.phys < *start + *size && *start < x.phys + x.length);
    if (!overlaps) continue;
    const std::string file = nd + region + "/badblocks";
    auto text = root.read_optional(file);
    if (!text)
      throw Error(-ENOENT, "tiermem: " + root.path(file) + " is missing; this kernel does not list " +
                               region + "'s bad blocks");
    // read_optional() drops the final newline; safety's parser accepts either form.
    out.push_back({region, *start, *size, root.path(file), std::move(*text)});
  }
  return out;
}

}  // namespace tiermem::topology
