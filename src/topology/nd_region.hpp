// The libnvdimm regions' sysfs ABI (Documentation/ABI/testing/sysfs-bus-nvdimm): where each nd
// region lies in physical memory and its `badblocks` list. Machine sysfs like the dax bus, so
// topology reads it; safety is handed the text and does the translation (safety/badblocks.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "platform/sysfs.hpp"
#include "topology/dax.hpp"

namespace tiermem::topology {

/** An nd region holding some of a dax device's memory, with its badblocks file as read. */
struct NdRegion {
  std::string name;             ///< "region0"
  std::uint64_t start = 0;      ///< physical address (`resource`)
  std::uint64_t size = 0;       ///< bytes (`size`), never 0
  std::string badblocks_file;   ///< the path on disk, for messages and reports
  std::string badblocks;        ///< the file's text ("SECTOR COUNT" lines)
};

/**
 * The nd regions (`sys/bus/nd/devices/regionN`) whose memory overlaps one of `extents`,
 * with their badblocks lists; none when the device is not on an NVDIMM. Regions without
 * memory of their own are passed over. Throws tiermem::Error naming the file when an
 * overlapping region's `badblocks` is missing, or an attribute is malformed.
 */
std::vector<NdRegion> nd_regions_holding(const platform::SysfsRoot &root,
                                         const std::vector<DaxExtent> &extents);

}  // namespace tiermem::topology
