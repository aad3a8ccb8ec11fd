#include "cli/dax_admin.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tiermem/error.hpp"

namespace tiermem::cli {

platform::SysfsRoot sysfs_root(const Global &global) { return api::sysfs_root(global.fsroot); }

DaxInfo dax_info(const platform::SysfsRoot &root, const std::string &arg) {
  const DaxDevice x = api::dax_device(root, arg);
  return {x.name, x.path, x.driver, x.size, x.align, x.target_node.value_or(-1)};
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
