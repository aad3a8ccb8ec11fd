// What the `tiermem` device commands (badblocks, scrub, online, offline) need from the layers
// below the api, offered as C++ to that front end: the machine to read, a dax device named on
// the command line, exclusive use of it, its known bad blocks and a scrub of it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "platform/raii.hpp"
#include "platform/sysfs.hpp"
#include "safety/badblocks.hpp"
#include "safety/scrub.hpp"
#include "topology/dax.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::api {

/** The sysfs root to read: `fsroot` (--fsroot), else TIERMEM_FSROOT, else "/". */
platform::SysfsRoot sysfs_root(const std::string &fsroot);

/** The dax device "dax0.0" or "/dev/dax0.0" names; throws tiermem::Error naming the argument. */
DaxDevice dax_device(const platform::SysfsRoot &root, const std::string &arg);
/** The name alone ("dax0.0"), checked like dax_device(). */
std::string dax_name_of(const platform::SysfsRoot &root, const std::string &arg);
/** Every dax device's name (the bus's, else the class's), sorted; empty when there are none. */
std::vector<std::string> dax_names(const platform::SysfsRoot &root);

/**
 * The known bad blocks of dax device `name`: topology reads where it lies and the nd regions'
 * lists, safety maps them to device offsets (safety/badblocks.hpp).
 */
safety::KnownBadBlocks bad_blocks_of(const platform::SysfsRoot &root, const std::string &name);
/** A piece of a dax device at a physical address (topology/dax.hpp). */
using DaxExtent = topology::DaxExtent;
/** Where dax device `name` lies in physical memory (topology/dax.hpp). */
std::vector<DaxExtent> extents_of(const platform::SysfsRoot &root, const std::string &name);

/** An open, exclusively locked device-dax character device (closed at scope exit). */
class LockedDevice {
 public:
  /**
   * Opens `path` (the device `name`) read-write and locks it. Throws tiermem::Error: not a
   * character device, no permission, busy (with the holder's pid).
   */
  LockedDevice(const std::string &path, const std::string &name);
  int fd() const noexcept { return fd_.get(); }
  /** Closes the descriptor early (the lock goes with it). */
  void close() noexcept { fd_.reset(); }

 private:
  platform::UniqueFd fd_;
};

/**
 * Maps `len` bytes of the open, locked device `fd` (`path` in messages) and scrubs them
 * (safety::DevdaxScrubber); throws tiermem::Error with the kernel's mmap error.
 */
safety::ScrubResult scrub_devdax(int fd, const std::string &path, std::size_t len,
                                 const safety::ScrubOptions &opts);

}  // namespace tiermem::api
