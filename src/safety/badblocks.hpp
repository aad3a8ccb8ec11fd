// Known bad blocks of a dax device: the media errors the NVDIMM firmware (ARS) or the
// machine-check handler reported to libnvdimm, as the kernel lists them in the nd region's
// `badblocks` file ("SECTOR COUNT" lines, 512-byte sectors relative to the region start;
// Documentation/ABI/testing/sysfs-bus-nvdimm and block/badblocks.c), translated into offsets
// of a device-dax device through physical addresses: the region's `resource` and the dax
// device's `mappingN/{start,end,page_offset}` (or `resource` and `size` on kernels without
// mapping directories). A devdax namespace has no block device, so the region's list is the
// only one that covers it. Everything is read below an injectable sysfs root.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/ranges.hpp"
#include "platform/sysfs.hpp"

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

/** A piece of a dax device: device bytes [offset, offset + length) are at physical `phys`. */
struct DaxExtent {
  std::uint64_t phys = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/**
 * The physical extents of dax device `name` ("dax0.0") from sysfs. Throws tiermem::Error
 * naming the file when an attribute is missing, unreadable (the addresses are root-only on
 * recent kernels) or malformed.
 */
std::vector<DaxExtent> dax_extents(const platform::SysfsRoot &root, const std::string &name);

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
 * Reads the badblocks of every nd region overlapping the device's memory and maps them to
 * device offsets. Throws tiermem::Error naming the file for a missing, unreadable or
 * malformed attribute.
 */
KnownBadBlocks known_bad_blocks(const platform::SysfsRoot &root, const std::string &name);

}  // namespace tiermem::safety
