// The per-boot hwloc cache (src/topology/hwloc_cache.hpp): used when it holds this boot's
// answer for the same machine state, never when the state changed, never when it is damaged
// or could have been written by someone else.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "platform/sysfs.hpp"
#include "support.hpp"
#include "tiermem/topology.hpp"
#include "topology/hwloc_cache.hpp"

using namespace tiermem;
namespace t = tiermem::test;

namespace {

// A recorded machine that has a boot id (recordings carry none), and a cache directory.
struct CachedMachine {
  t::TempDir dir;
  t::fs::path root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::fs::path cache = dir.path() / "cache";
  CachedMachine() {
    t::fs::create_directories(root / "proc/sys/kernel/random");
    t::write_file(root / "proc/sys/kernel/random/boot_id", "6f1c0d52-0000-4000-8000-000000000001\n");
    t::fs::create_directory(cache);
    ::chmod(cache.c_str(), 0700);
    ::setenv("TIERMEM_CACHE_DIR", cache.c_str(), 1);
  }
  ~CachedMachine() { ::unsetenv("TIERMEM_CACHE_DIR"); }
  Topology discover() const {
    DiscoverOptions o;
    o.fsroot = root.string();
    return Topology::discover(o);
  }
  std::string file() const {
    auto f = topology::hwloc_cache_file(platform::SysfsRoot(root.string()));
    REQUIRE(f.has_value());
    return *f;
  }
};

std::string read_text(const std::string &path) {
  int err = 0;
  std::FILE *f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  (void)err;
  return s;
}

// Rewrites every node's bandwidth in the cache file, keeping its key: a cached answer that
// discovery then reports proves the cache was read instead of hwloc.
void tamper(const std::string &file, std::uint64_t bandwidth) {
  auto doc = nlohmann::json::parse(read_text(file));
  for (auto &n : doc["nodes"]) n["bandwidth_mbps"] = bandwidth;
  t::write_file(file, doc.dump());
}

}  // namespace

TEST_CASE("the first discovery stores hwloc's answer, which matches an uncached discovery") {
  CachedMachine m;
  const std::string fresh = m.discover().to_json();
  REQUIRE(t::fs::exists(m.file()));
  const std::string cached = m.discover().to_json();
  CHECK(cached == fresh);
  ::setenv("TIERMEM_CACHE_DIR", "off", 1);
  CHECK(m.discover().to_json() == fresh);
}

TEST_CASE("a later discovery in the same boot reads the cache instead of hwloc") {
  CachedMachine m;
  m.discover();
  tamper(m.file(), 4242);
  CHECK(m.discover().tiers()[0].bandwidth_mbps == 4242u);
}

TEST_CASE("a new boot, or a node going online or offline, discovers afresh") {
  CachedMachine m;
  m.discover();
  tamper(m.file(), 4242);
  t::write_file(m.root / "proc/sys/kernel/random/boot_id", "6f1c0d52-0000-4000-8000-000000000002\n");
  CHECK(m.discover().tiers()[0].bandwidth_mbps == 10000u);  // hwloc's, not the tampered value

  tamper(m.file(), 4242);  // the file of the new boot
  // Node 9 (an NVM node) goes offline: the state hwloc saw is gone.
  t::write_file(m.root / "sys/devices/system/node/online", "0-2,4,6,8\n");
  t::write_file(m.root / "sys/devices/system/node/has_memory", "0-2,4,6,8\n");
  CHECK(m.discover().tiers()[0].bandwidth_mbps == 10000u);
}

TEST_CASE("a damaged cache file is ignored and written again") {
  CachedMachine m;
  const std::string fresh = m.discover().to_json();
  for (const char *junk : {"", "{", "not json at all", "{\"key\":1}", "{\"key\":\"x\",\"nodes\":[]}"}) {
    t::write_file(m.file(), junk);
    CHECK(m.discover().to_json() == fresh);
  }
  CHECK(nlohmann::json::parse(read_text(m.file())).contains("nodes"));
  // The right key with a malformed node list
  auto doc = nlohmann::json::parse(read_text(m.file()));
  doc["nodes"][0]["os_index"] = "zero";
  t::write_file(m.file(), doc.dump());
  CHECK(m.discover().to_json() == fresh);
}

TEST_CASE("a cache directory that others may write is not used") {
  CachedMachine m;
  ::chmod(m.cache.c_str(), 0777);
  m.discover();
  CHECK(t::fs::is_empty(m.cache));
  CHECK_FALSE(topology::hwloc_cache_file(platform::SysfsRoot(m.root.string())).has_value());
}

TEST_CASE("a recorded machine without a boot id is never cached") {
  t::TempDir dir;
  const auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  ::setenv("TIERMEM_CACHE_DIR", dir.path().c_str(), 1);
  CHECK_FALSE(topology::hwloc_cache_file(platform::SysfsRoot(root.string())).has_value());
  ::unsetenv("TIERMEM_CACHE_DIR");
}

TEST_CASE("TIERMEM_CACHE_DIR set but empty is refused with one line naming it") {
  CachedMachine m;
  ::setenv("TIERMEM_CACHE_DIR", "", 1);
  const std::string msg = t::error_of([&] { m.discover(); });
  CHECK(msg.find("TIERMEM_CACHE_DIR is set but empty") != std::string::npos);
  CHECK(t::lines(msg) == 0);
}
