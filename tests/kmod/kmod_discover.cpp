// Runs topology::read_tiermem_dax_devices() on the live /sys of the guest and prints one
// line per device, so the kmod-dax scenario can check discovery against what the module
// really creates (class symlinks into /sys/devices/virtual), not just a synthetic tree.
#include <cstdio>
#include <exception>

#include "topology/tiermem_dax.hpp"

int main() {
  try {
    for (const auto &d : tiermem::topology::read_tiermem_dax_devices(
             tiermem::platform::SysfsRoot("/"))) {
      std::printf("%s path=%s size=%llu align=%llu target_node=%d resource=%#llx driver=%s mode=%s\n",
                  d.name.c_str(), d.path.c_str(), static_cast<unsigned long long>(d.size),
                  static_cast<unsigned long long>(d.align), d.target_node.value_or(-1),
                  static_cast<unsigned long long>(d.resource.value_or(0)), d.driver.c_str(),
                  d.mode == tiermem::DaxMode::devdax ? "devdax" : "other");
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kmod_discover: %s\n", e.what());
    return 1;
  }
  return 0;
}
