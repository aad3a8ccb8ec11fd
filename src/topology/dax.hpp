// The device-dax sysfs ABI (Documentation/ABI/testing/sysfs-bus-dax): one reader of a dax
// device's attributes, for discovery and for the commands that name one device.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "platform/sysfs.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::topology {

/** The dax devices' directory: the dax bus, else the pre-5.1 class layout; "" when neither. */
std::string dax_base(const platform::SysfsRoot &root);

/** The directory of dax device `name` (below dax_base()), or "" when sysfs has no such device. */
std::string dax_dir(const platform::SysfsRoot &root, const std::string &name);

/** Every dax device's name (the bus's, else the class's), sorted; empty when there are none. */
std::vector<std::string> dax_device_names(const platform::SysfsRoot &root);

/** Reads device `name` below `base` (dax_base()): size, align, target_node, resource, driver. */
DaxDevice read_dax_device(const platform::SysfsRoot &root, const std::string &base,
                          const std::string &name);

/**
 * The dax device name for a command-line argument "dax0.0" or "/dev/dax0.0". Throws
 * tiermem::Error (-ENODEV) naming the argument when sysfs has no such dax device.
 */
std::string dax_device_name(const platform::SysfsRoot &root, const std::string &arg);

/** The device an argument names (dax_device_name()), read from sysfs. */
DaxDevice find_dax_device(const platform::SysfsRoot &root, const std::string &arg);

/** A piece of a dax device: device bytes [offset, offset + length) are at physical `phys`. */
struct DaxExtent {
  std::uint64_t phys = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/**
 * The physical extents of dax device `name` ("dax0.0"), sorted by device offset: its
 * `mappingN/{start,end,page_offset}`, or `resource` and `size` on kernels without mapping
 * directories. Throws tiermem::Error naming the file when an attribute is missing,
 * unreadable (the addresses are root-only on recent kernels) or malformed.
 */
std::vector<DaxExtent> dax_extents(const platform::SysfsRoot &root, const std::string &name);

}  // namespace tiermem::topology
