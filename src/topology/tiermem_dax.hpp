// Devices of tiermem's own dax driver (kmod/tiermem_dax.c): /dev/tmdaxN over a reserved
// physical range, with device-dax's attributes under /sys/class/tiermem_dax/tmdaxN.
#pragma once
#include <vector>

#include "platform/sysfs.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::topology {

/**
 * The tiermem_dax devices of a machine (none when the module is not loaded), each with
 * driver "tiermem_dax", mode devdax and path "/dev/tmdaxN": a program maps them exactly as
 * it maps a device-dax device. Throws tiermem::Error naming the file when an attribute is
 * malformed.
 */
std::vector<DaxDevice> read_tiermem_dax_devices(const platform::SysfsRoot &root);

}  // namespace tiermem::topology
