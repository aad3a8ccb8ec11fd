#include "cli/dax_admin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend/backend.hpp"
#include "tiermem/error.hpp"
#include "topology/env.hpp"

namespace tiermem::cli {

platform::SysfsRoot sysfs_root(const Global &global) {
  if (!global.fsroot.empty()) return platform::SysfsRoot(global.fsroot);
  return platform::SysfsRoot(topology::env::fsroot().value_or("/"));
}

DaxInfo dax_info(const platform::SysfsRoot &root, const std::string &arg) {
  DaxInfo d;
  d.name = safety::dax_device_name(root, arg);
  d.path = "/dev/" + d.name;
  std::string dir = "sys/bus/dax/devices/" + d.name;
  if (!root.is_dir(dir)) dir = "sys/class/dax/" + d.name;
  d.driver = root.link_basename(dir + "/driver");
  d.size = root.read_u64(dir + "/size");
  d.align = root.read_u64_optional(dir + "/align").value_or(0);
  d.target_node = static_cast<int>(root.read_i64_optional(dir + "/target_node").value_or(-1));
  return d;
}

void require_devdax(const DaxInfo &d, const std::string &doing) {
  if (d.driver == "device_dax") return;
  if (d.driver == "kmem")
    throw Error(-EBUSY, "tiermem: " + d.name + " is already online as system-ram (driver kmem); " +
                            (doing == "online" ? std::string("nothing to do")
                                               : "run `tiermem offline " + d.name + "` before " + doing));
  throw Error(-ENODEV, "tiermem: " + d.name + " is " +
                           (d.driver.empty() ? std::string("not bound to a driver")
                                             : "bound to driver " + d.driver) +
                           ", not device_dax; run `daxctl reconfigure-device --mode=devdax " +
                           d.name + "` first");
}

void require_root(const std::string &doing, const std::string &device) {
  if (::geteuid() == 0) return;
  throw Error(-EPERM, "tiermem: " + doing + " " + device +
                          " needs root (it reconfigures the kernel's memory); run it with sudo");
}

LockedDevice::LockedDevice(const DaxInfo &d) : fd_(::open(d.path.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) {
    int err = errno;
    throw Error(-err, "tiermem: cannot open " + d.path + ": " + std::strerror(err) +
                          (err == EACCES || err == EPERM ? "; run as root or join the device's group"
                           : err == ENOENT ? "; the device node is missing, check `daxctl list`"
                                           : ""));
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0 || !S_ISCHR(st.st_mode)) {
    throw Error(-ENODEV, "tiermem: " + d.path + " is not a character device; is " + d.name +
                             " in devdax mode?");
  }
  backend::lock_exclusive(fd_.get(), d.path);
}

std::string bytes_text(std::uint64_t n) {
  static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  for (; v >= 1024 && u < 4; ++u) v /= 1024;
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, unit[u]);
  return buf;
}

std::string hex(std::uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(n));
  return buf;
}

nlohmann::json ranges_json(const std::vector<safety::BadRange> &ranges) {
  auto a = nlohmann::json::array();
  for (const auto &r : ranges) a.push_back({{"offset", r.offset}, {"length", r.length}});
  return a;
}

}  // namespace tiermem::cli
