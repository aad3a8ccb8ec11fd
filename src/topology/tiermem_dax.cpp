#include "topology/tiermem_dax.hpp"

#include "topology/sources.hpp"

namespace tiermem::topology {

std::vector<DaxDevice> read_tiermem_dax_devices(const platform::SysfsRoot &root) {
  // A class, not a bus: the module is the driver, there is no driver link to follow.
  const std::string base = "sys/class/tiermem_dax";
  std::vector<DaxDevice> out;
  for (const auto &name : root.list(base)) {
    // Only the device nodes; a class directory may gain other entries in later kernels.
    if (name.rfind("tmdax", 0) != 0 || !root.is_dir(base + "/" + name)) continue;
    const std::string dir = base + "/" + name;
    DaxDevice d;
    d.name = name;
    d.path = "/dev/" + name;
    d.size = root.read_u64(dir + "/size");
    d.align = root.read_u64(dir + "/align");
    d.target_node = read_target_node(root, dir + "/target_node");
    if (auto r = root.read_u64_if_readable(dir + "/resource"); r && *r != 0) d.resource = *r;
    d.driver = "tiermem_dax";
    d.mode = DaxMode::devdax;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace tiermem::topology
