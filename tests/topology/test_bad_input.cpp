// Every bad input ends in one tiermem::Error whose message names the file and the problem.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"
#include "tiermem/topology.hpp"

using namespace tiermem;
namespace t = tiermem::test;

namespace {

std::string error_of(const DiscoverOptions &o) {
  try {
    Topology::discover(o);
  } catch (const Error &e) {
    CHECK(e.code() < 0);
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);  // one line
    CHECK(msg.rfind("tiermem: ", 0) == 0);
    return msg;
  }
  FAIL("discovery accepted bad input");
  return "";
}

DiscoverOptions root_at(const t::fs::path &p) {
  DiscoverOptions o;
  o.fsroot = p.string();
  return o;
}

}  // namespace

TEST_CASE("a missing fsroot is named in the error") {
  const auto msg = error_of(root_at("/nonexistent/tiermem-root"));
  CHECK(msg.find("/nonexistent/tiermem-root does not exist") != std::string::npos);
}

TEST_CASE("an empty fsroot directory is refused as not a recorded machine") {
  t::TempDir dir;
  const auto msg = error_of(root_at(dir.path()));
  CHECK(msg.find("has no sys/devices/system/node") != std::string::npos);
}

TEST_CASE("an empty TIERMEM_FSROOT is refused rather than ignored") {
  ::setenv("TIERMEM_FSROOT", "", 1);
  const auto msg = error_of(DiscoverOptions{});
  ::unsetenv("TIERMEM_FSROOT");
  CHECK(msg.find("TIERMEM_FSROOT is set but empty") != std::string::npos);
}

TEST_CASE("a malformed target_node names the file and the value") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/bus/dax/devices/dax0.0/target_node", "abc\n");
  const auto msg = error_of(root_at(root));
  CHECK(msg.find("dax0.0/target_node: 'abc' is not a number") != std::string::npos);
}

TEST_CASE("a malformed size names the file") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/bus/dax/devices/dax2.0/size", "12x\n");
  CHECK(error_of(root_at(root)).find("dax2.0/size: '12x'") != std::string::npos);
}

TEST_CASE("a dax device without its size attribute is reported missing") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::fs::remove(root / "sys/bus/dax/devices/dax6.0/size");
  CHECK(error_of(root_at(root)).find("dax6.0/size is missing") != std::string::npos);
}

TEST_CASE("an unreadable attribute names the file") {
  // Root reads through permission bits, so make the attribute a directory instead.
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  auto attr = root / "sys/bus/dax/devices/dax0.0/align";
  t::fs::remove(attr);
  t::fs::create_directory(attr);
  CHECK(error_of(root_at(root)).find("dax0.0/align") != std::string::npos);
}

TEST_CASE("a root-only dax resource is unknown to an unprivileged reader, not an error") {
  // The kernel makes a dax device's `resource` root-only (0400); `tiermem scrub` and
  // `tiermem online` as a user must get to their own "needs root" errors past it.
  t::TempDir dir;
  t::fs::permissions(dir.path(), t::fs::perms::owner_all | t::fs::perms::group_read |
                                     t::fs::perms::group_exec | t::fs::perms::others_read |
                                     t::fs::perms::others_exec);
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::fs::permissions(root / "sys/bus/dax/devices/dax0.0/resource", t::fs::perms::none);
  const auto probe = [&root]() -> int {
    try {
      const auto topo = Topology::discover(root_at(root));
      for (const auto &d : topo.dax_devices())
        if (d.name == "dax0.0") return d.resource ? 3 : (d.size > 0 ? 0 : 4);
      return 2;
    } catch (const Error &) {
      return 1;
    }
  };
  int rc = -1;
  if (::geteuid() == 0) {
    // Root reads through permission bits: look as nobody does, from a child.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(5);
      ::_exit(probe());
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    rc = WEXITSTATUS(status);
  } else {
    rc = probe();
  }
  CHECK(rc == 0);  // 1: discovery threw, 3: resource was read, 5: could not drop to nobody
}

TEST_CASE("a corrupt node list names the file") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/devices/system/node/online", "0-x\n");
  CHECK(error_of(root_at(root)).find("node/online: '0-x' is not a kernel list") != std::string::npos);
}

TEST_CASE("a node meminfo without MemTotal names the file") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/devices/system/node/node1/meminfo", "Node 1 MemFree: 12 kB\n");
  CHECK(error_of(root_at(root)).find("node1/meminfo has no MemTotal") != std::string::npos);
}

TEST_CASE("a missing hwloc XML names the file") {
  DiscoverOptions o;
  o.hwloc_xml = "/nonexistent/topo.xml";
  CHECK(error_of(o).find("/nonexistent/topo.xml cannot be opened") != std::string::npos);
}

TEST_CASE("a truncated hwloc XML is refused with its name") {
  t::TempDir dir;
  std::FILE *in = std::fopen(t::fixture_file("hwloc/cxlmem+dax.v2.xml").c_str(), "r");
  REQUIRE(in != nullptr);
  std::string text(2000, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), in));
  std::fclose(in);
  auto xml = dir.path() / "truncated.xml";
  t::write_file(xml, text);
  DiscoverOptions o;
  o.hwloc_xml = xml.string();
  CHECK(error_of(o).find("truncated.xml is truncated or not a valid hwloc XML") != std::string::npos);
}

TEST_CASE("a foreign XML is refused as not an hwloc topology") {
  t::TempDir dir;
  auto xml = dir.path() / "foreign.xml";
  t::write_file(xml, "<?xml version=\"1.0\"?>\n<svg><rect/></svg>\n");
  DiscoverOptions o;
  o.hwloc_xml = xml.string();
  CHECK(error_of(o).find("foreign.xml is not an hwloc topology XML") != std::string::npos);
}

TEST_CASE("an hwloc 3 XML is refused with the version and the remedy") {
  DiscoverOptions o;
  o.hwloc_xml = t::fixture_file("hwloc/64intel64-heteromem.xml");
  const auto msg = error_of(o);
  CHECK(msg.find("is hwloc XML version 3.0, newer than this hwloc") != std::string::npos);
  o.hwloc_xml = t::fixture_file("hwloc/8intel64-4n2t-memattrs.xml");
  CHECK(error_of(o).find("version 3.0") != std::string::npos);
}
