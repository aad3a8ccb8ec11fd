#include "api/admin.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "backend/backend.hpp"
#include "tiermem/error.hpp"
#include "topology/dax.hpp"
#include "topology/env.hpp"
#include "topology/nd_region.hpp"

namespace tiermem::api {

platform::SysfsRoot sysfs_root(const std::string &fsroot) {
  return platform::SysfsRoot(topology::env::fsroot_or(fsroot));
}

DaxDevice dax_device(const platform::SysfsRoot &root, const std::string &arg) {
  return topology::find_dax_device(root, arg);
}

std::string dax_name_of(const platform::SysfsRoot &root, const std::string &arg) {
  return topology::dax_device_name(root, arg);
}

std::vector<std::string> dax_names(const platform::SysfsRoot &root) {
  return topology::dax_device_names(root);
}

safety::KnownBadBlocks bad_blocks_of(const platform::SysfsRoot &root, const std::string &name) {
  const auto extents = topology::dax_extents(root, name);
  return safety::known_bad_blocks(name, extents, topology::nd_regions_holding(root, extents));
}

std::vector<DaxExtent> extents_of(const platform::SysfsRoot &root, const std::string &name) {
  return topology::dax_extents(root, name);
}

LockedDevice::LockedDevice(const std::string &path, const std::string &name)
    : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) {
    int err = errno;
    throw Error(-err, "tiermem: cannot open " + path + ": " + std::strerror(err) +
                          (err == EACCES || err == EPERM ? "; run as root or join the device's group"
                           : err == ENOENT ? "; the device node is missing, check `daxctl list`"
                                           : ""));
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0 || !S_ISCHR(st.st_mode)) {
    throw Error(-ENODEV, "tiermem: " + path + " is not a character device; is " + name +
                             " in devdax mode?");
  }
  backend::lock_exclusive(fd_.get(), path);
}

safety::ScrubResult scrub_devdax(int fd, const std::string &path, std::size_t len,
                                 const safety::ScrubOptions &opts) {
  safety::DevdaxScrubber scrubber(fd, path, len);
  return scrubber.run(opts);
}

}  // namespace tiermem::api
