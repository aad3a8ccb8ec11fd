// Known bad blocks of a dax device: the media errors the NVDIMM firmware (ARS) or the
// machine-check handler reported to libnvdimm, as the kernel lists them in the nd region's
// `badblocks` file ("SECTOR COUNT" lines, 512-byte sectors relative to the region start;
// Documentation/ABI/testing/sysfs-bus-nvdimm and block/badblocks.c), translated into offsets
// of a device-dax device through physical addresses: the region's `resource` and the dax
// device's `mappingN/{start,end,page_offset}` (or `resource` and `size` on kernels without
// mapping directories). A devdax namespace has no block device, so the region's list is the
// only one that covers it. Topology reads those files (topology/dax.hpp, topology/nd_region.hpp);
// this file only parses and translates what it is handed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/ranges.hpp"
#include "topology/dax.hpp"
#include "topology/nd_region.hpp"

namespace tiermem::safety {

/** `length` bad bytes from `offset`, in the device's own offsets. */
using BadRange = platform::ByteRange;
using platform::merge_ranges;

/** One line of a kernel badblocks file: `count` 512-byte sectors from `sector`. */
struct BadSectors {
  std::uint64_t sector = 0;
  std::uint64_t count = 0;
};

/**
 * Parses the text of a kernel badblocks file: lines "SECTOR COUNT" (decimal, COUNT >= 1),
 * possibly none. Throws tiermem::Error (-EINVAL) naming `path`, the line number and what is
 * wrong, for anything else.
 */
std::vector<BadSectors> parse_badblocks(std::string_view text, const std::string &path);

/** The known bad blocks of one dax device. */
struct KnownBadBlocks {
  std::string device;                ///< "dax0.0"
  std::vector<std::string> sources;  ///< the badblocks files read (paths on disk)
  std::vector<BadRange> ranges;      ///< device offsets, sorted, merged, clipped to the device
  std::uint64_t region_entries = 0;  ///< lines in those files, inside the device or not
  /** False when no nd region holds the device's memory (not an NVDIMM: no list exists). */
  bool has_region = false;
};

/**
 * Maps the badblocks lists of the nd regions holding device `name` (`regions`, as topology
 * read them: topology::nd_regions_holding()) to offsets of the device, whose physical pieces
 * are `extents` (topology::dax_extents()). Throws tiermem::Error naming the file for a
 * malformed list.
 */
KnownBadBlocks known_bad_blocks(const std::string &name,
                                const std::vector<topology::DaxExtent> &extents,
                                const std::vector<topology::NdRegion> &regions);

}  // namespace tiermem::safety
