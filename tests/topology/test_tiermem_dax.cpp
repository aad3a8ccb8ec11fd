// Discovery of kmod/tiermem_dax devices from a synthetic sysfs tree laid out as the module
// lays it out: the device under /sys/devices/virtual/tiermem_dax/, linked from the class.
#include <doctest/doctest.h>

#include <string>

#include "support.hpp"
#include "topology/tiermem_dax.hpp"

using namespace tiermem;
namespace t = tiermem::test;

namespace {

// SysfsRoot accepts only a directory shaped like a machine's /.
platform::SysfsRoot machine_at(const t::fs::path &root) {
  t::fs::create_directories(root / "sys/devices/system/node/node0");
  return platform::SysfsRoot(root.string());
}

// One tmdaxN as the module creates it, with device-dax's attribute formats.
void add_device(const t::fs::path &root, const std::string &name, const std::string &size,
                const std::string &node, const std::string &resource) {
  const auto dev = root / "sys/devices/virtual/tiermem_dax" / name;
  t::fs::create_directories(dev);
  t::write_file(dev / "size", size + "\n");
  t::write_file(dev / "align", "2097152\n");
  t::write_file(dev / "target_node", node + "\n");
  t::write_file(dev / "numa_node", node + "\n");
  t::write_file(dev / "resource", resource + "\n");
  t::write_file(dev / "bad_pages", "");
  t::write_file(dev / "dev", "246:0\n");
  const auto cls = root / "sys/class/tiermem_dax";
  t::fs::create_directories(cls);
  t::fs::create_directory_symlink("../../devices/virtual/tiermem_dax/" + name, cls / name);
}

}  // namespace

TEST_CASE("a tiermem_dax device is listed as devdax with its /dev path, size, align, node and address") {
  t::TempDir dir;
  add_device(dir.path(), "tmdax0", "268435456", "2", "0x40000000");
  const auto devs = topology::read_tiermem_dax_devices(machine_at(dir.path()));
  REQUIRE(devs.size() == 1);
  const auto &d = devs[0];
  CHECK(d.name == "tmdax0");
  CHECK(d.path == "/dev/tmdax0");
  CHECK(d.driver == "tiermem_dax");
  CHECK(d.mode == DaxMode::devdax);
  CHECK(d.size == 268435456u);
  CHECK(d.align == 2097152u);
  CHECK(d.target_node == 2);
  CHECK(d.resource == 0x40000000u);
}

TEST_CASE("a machine without the tiermem_dax module has no tiermem_dax devices") {
  t::TempDir dir;
  t::fs::create_directories(dir.path() / "sys/class");
  CHECK(topology::read_tiermem_dax_devices(machine_at(dir.path())).empty());
}

TEST_CASE("several tiermem_dax devices come back in name order, each with its own attributes") {
  t::TempDir dir;
  add_device(dir.path(), "tmdax1", "1073741824", "-1", "0x100000000");
  add_device(dir.path(), "tmdax0", "268435456", "0", "0x40000000");
  const auto devs = topology::read_tiermem_dax_devices(machine_at(dir.path()));
  REQUIRE(devs.size() == 2);
  CHECK(devs[0].name == "tmdax0");
  CHECK(devs[0].target_node == 0);
  CHECK(devs[1].name == "tmdax1");
  CHECK(devs[1].size == 1073741824u);
  CHECK_FALSE(devs[1].target_node.has_value());  // -1: the firmware named no node
  CHECK(devs[1].resource == 0x100000000u);
}

TEST_CASE("a hidden resource (0 to unprivileged readers) is left unset, not reported as address 0") {
  t::TempDir dir;
  add_device(dir.path(), "tmdax0", "268435456", "0", "0");
  const auto devs = topology::read_tiermem_dax_devices(machine_at(dir.path()));
  REQUIRE(devs.size() == 1);
  CHECK_FALSE(devs[0].resource.has_value());
}

TEST_CASE("a malformed tiermem_dax size is an error naming the file") {
  t::TempDir dir;
  add_device(dir.path(), "tmdax0", "lots", "0", "0x40000000");
  try {
    topology::read_tiermem_dax_devices(machine_at(dir.path()));
    FAIL("a malformed size was accepted");
  } catch (const Error &e) {
    const std::string msg = e.what();
    CHECK(msg.find("tmdax0/size") != std::string::npos);
    CHECK(msg.find("lots") != std::string::npos);
  }
}
