#include "topology/dax.hpp"

#include "topology/sources.hpp"

#include <algorithm>
#include <cerrno>

#include "tiermem/error.hpp"

namespace tiermem::topology {

namespace {

constexpr const char *kBus = "sys/bus/dax/devices";
constexpr const char *kClass = "sys/class/dax";  // pre-5.1 layout, still in the wild

DaxMode mode_of(const std::string &driver) {
  if (driver.empty()) return DaxMode::unbound;
  if (driver == "device_dax" || driver == "tiermem_dax") return DaxMode::devdax;
  if (driver == "kmem") return DaxMode::system_ram;
  return DaxMode::other;
}

}  // namespace

std::string dax_base(const platform::SysfsRoot &root) {
  if (root.is_dir(kBus)) return kBus;
  if (root.is_dir(kClass)) return kClass;
  return "";
}

std::string dax_dir(const platform::SysfsRoot &root, const std::string &name) {
  for (const char *base : {kBus, kClass}) {
    std::string rel = std::string(base) + "/" + name;
    if (root.is_dir(rel)) return rel;
  }
  return "";
}

std::vector<std::string> dax_device_names(const platform::SysfsRoot &root) {
  auto names = root.list(kBus);
  if (names.empty()) names = root.list(kClass);
  return names;
}

DaxDevice read_dax_device(const platform::SysfsRoot &root, const std::string &base,
                          const std::string &name) {
  const std::string dir = base + "/" + name;
  DaxDevice d;
  d.name = name;
  d.path = "/dev/" + name;
  d.size = root.read_u64(dir + "/size");
  d.align = root.read_u64_optional(dir + "/align").value_or(0);
  d.target_node = read_target_node(root, dir + "/target_node");
  // `resource` is hidden (0 or unreadable) to unprivileged readers on newer kernels.
  if (auto r = root.read_u64_if_readable(dir + "/resource"); r && *r != 0) d.resource = *r;
  d.driver = root.link_basename(dir + "/driver");
  if (d.driver.empty() && base == kClass) d.driver = root.link_basename(dir + "/device/driver");
  d.mode = mode_of(d.driver);
  return d;
}

std::string dax_device_name(const platform::SysfsRoot &root, const std::string &arg) {
  std::string name = arg;
  if (name.rfind("/dev/", 0) == 0) name = name.substr(5);
  bool plausible = name.rfind("dax", 0) == 0 && name.find('/') == std::string::npos;
  if (!plausible || dax_dir(root, name).empty()) {
    throw Error(-ENODEV, "tiermem: " + arg + " is not a dax device (no " +
                             root.path(std::string(kBus) + "/" + name) +
                             "); name one from `tiermem list`, e.g. dax0.0");
  }
  return name;
}

DaxDevice find_dax_device(const platform::SysfsRoot &root, const std::string &arg) {
  const std::string name = dax_device_name(root, arg);
  const std::string bus = std::string(kBus) + "/" + name;
  return read_dax_device(root, root.is_dir(bus) ? kBus : kClass, name);
}

std::vector<DaxExtent> dax_extents(const platform::SysfsRoot &root, const std::string &name) {
  const std::string dir = dax_dir(root, name);
  if (dir.empty())
    throw Error(-ENODEV, "tiermem: " + root.path(std::string(kBus) + "/" + name) + " is missing; " +
                             name + " is not a dax device");
  std::vector<DaxExtent> out;
  // mappingN: physical [start, end] (inclusive), at device page `page_offset` (4 KiB pages).
  for (const std::string &e : root.list(dir)) {
    if (e.rfind("mapping", 0) != 0 || !root.is_dir(dir + "/" + e)) continue;
    const std::string m = dir + "/" + e;
    std::uint64_t start = root.read_u64(m + "/start");
    std::uint64_t end = root.read_u64(m + "/end");
    std::uint64_t pgoff = root.read_u64(m + "/page_offset");
    if (end < start)
      throw Error(-EINVAL, "tiermem: " + root.path(m) + ": end " + std::to_string(end) +
                               " is below start " + std::to_string(start) +
                               "; the sysfs tree is corrupt");
    out.push_back({start, pgoff * 4096, end - start + 1});
  }
  if (out.empty()) {
    std::uint64_t size = root.read_u64(dir + "/size");
    auto res = root.read_u64_optional(dir + "/resource");
    if (!res)
      throw Error(-ENOENT, "tiermem: " + root.path(dir + "/resource") +
                               " is missing; this kernel does not say where " + name +
                               " lives, so its bad blocks cannot be located");
    if (size > 0) out.push_back({*res, 0, size});
  }
  std::sort(out.begin(), out.end(),
            [](const DaxExtent &a, const DaxExtent &b) { return a.offset < b.offset; });
  return out;
}

}  // namespace tiermem::topology
