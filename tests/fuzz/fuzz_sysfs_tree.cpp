// Discovery of a machine from a mutated sysfs tree, through the injectable root: the input
// is records "INDEX BYTES" separated by NUL bytes; INDEX (one byte) picks one of the
// attribute files below (or a driver link), BYTES are its contents. The tree is read as
// `tiermem --fsroot` reads one (nodes, memory tiers, dax and tiermem_dax devices, ranking),
// then every tier and device is resolved and the known bad blocks of dax0.0 are mapped. Each
// tree is discovered or refused with a one-line error naming the file.
#include "fuzz.hpp"
#include "api/admin.hpp"
#include "topology/sources.hpp"
#include "topology/spec.hpp"
#include "topology/tiermem_dax.hpp"

namespace {

const char *const kFiles[] = {
    "sys/devices/system/node/online",
    "sys/devices/system/node/has_cpu",
    "sys/devices/system/node/node0/meminfo",
    "sys/devices/system/node/node0/distance",
    "sys/devices/system/node/node0/cpulist",
    "sys/devices/system/node/node1/meminfo",
    "sys/devices/system/node/node1/distance",
    "sys/devices/system/node/node1/cpumap",
    "sys/devices/system/node/node2/meminfo",
    "sys/devices/system/node/node2/distance",
    "sys/devices/virtual/memory_tiering/memory_tier4/nodelist",
    "sys/devices/virtual/memory_tiering/memory_tier22/nodelist",
    "sys/bus/dax/devices/dax0.0/size",
    "sys/bus/dax/devices/dax0.0/align",
    "sys/bus/dax/devices/dax0.0/target_node",
    "sys/bus/dax/devices/dax0.0/resource",
    "sys/bus/dax/devices/dax0.0/mapping0/start",
    "sys/bus/dax/devices/dax0.0/mapping0/end",
    "sys/bus/dax/devices/dax0.0/mapping0/page_offset",
    "sys/bus/dax/devices/dax1.0/size",
    "sys/bus/dax/devices/dax1.0/target_node",
    "sys/class/tiermem_dax/tmdax0/size",
    "sys/class/tiermem_dax/tmdax0/align",
    "sys/class/tiermem_dax/tmdax0/target_node",
    "sys/bus/nd/devices/region0/resource",
    "sys/bus/nd/devices/region0/size",
    "sys/bus/nd/devices/region0/badblocks",
};
// Driver links: the record's bytes are the link's target ("../../bus/dax/drivers/kmem").
const char *const kLinks[] = {
    "sys/bus/dax/devices/dax0.0/driver",
    "sys/bus/dax/devices/dax1.0/driver",
};
constexpr std::size_t kEntries = std::size(kFiles) + std::size(kLinks);

// The number a file holds, as strtoll reads it (0 when the file is absent).
long long number_in(const std::filesystem::path &file) {
  std::FILE *f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return 0;
  char buf[64] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  return std::strtoll(buf, nullptr, 10);
}

void check_topology(const tiermem::Topology &topo, const std::filesystem::path &root,
                    std::string_view quoted) {
  using namespace tiermem::topology;
  FUZZ_CHECK(!topo.to_json().empty());
  // A device's target node is the node its file names, never a number truncated into another.
  for (const auto &d : topo.dax_devices()) {
    if (!d.target_node) continue;
    const auto dir = d.name.rfind("tmdax", 0) == 0 ? root / "sys/class/tiermem_dax" / d.name
                                                   : root / "sys/bus/dax/devices" / d.name;
    FUZZ_CHECK(*d.target_node >= 0 && *d.target_node == number_in(dir / "target_node"));
  }
  const auto &tiers = topo.tiers();
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    FUZZ_CHECK(tiers[i].rank == i);
    for (std::size_t d : tiers[i].dax_devices) FUZZ_CHECK(d < topo.dax_devices().size());
    try {
      const TierTarget t = resolve_spec(topo, "rank:" + std::to_string(i));
      FUZZ_CHECK(resolve_spec(topo, t.name).key == t.key);
    } catch (const tiermem::Error &e) {
      fuzz::check_error(e, quoted);  // may quote a driver name
    }
  }
  for (const auto &d : topo.dax_devices()) {
    try {
      resolve_spec(topo, "dax:" + d.name);
    } catch (const tiermem::Error &e) {
      fuzz::check_error(e, quoted);  // may quote a driver name
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem;
  static const fuzz::ScratchDir dir;
  dir.clear();
  // The one directory a root must have.
  std::filesystem::create_directories(dir.path() / "sys/devices/system/node");
  bool newline = false;
  const std::string_view in = fuzz::text(data, size);
  for (std::size_t pos = 0; pos < in.size();) {
    std::size_t end = in.find('\0', pos);
    if (end == std::string_view::npos) end = in.size();
    const std::string_view rec = in.substr(pos, end - pos);
    pos = end + 1;
    if (rec.empty()) continue;
    newline = newline || rec.find('\n') != rec.npos || rec.find('\r') != rec.npos;
    const std::size_t i = static_cast<unsigned char>(rec[0]) % kEntries;
    const std::string body(rec.substr(1));
    if (i < std::size(kFiles)) {
      dir.write(kFiles[i], body);
    } else {
      const auto link = dir.path() / kLinks[i - std::size(kFiles)];
      std::filesystem::create_directories(link.parent_path());
      std::error_code ec;
      std::filesystem::create_symlink(body.empty() ? "x" : body, link, ec);
    }
  }
  // Error messages quote the files, which may hold line breaks.
  const std::string_view quoted = newline ? "\n" : "";
  try {
    const platform::SysfsRoot root(dir.path().string());
    auto nodes = topology::read_sysfs_nodes(root);
    topology::read_memory_tiers(root, nodes);
    auto dax = topology::read_dax_devices(root);
    for (auto &d : topology::read_tiermem_dax_devices(root)) dax.push_back(std::move(d));
    check_topology(Topology::from_parts(std::move(nodes), std::move(dax)), dir.path(), quoted);
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, quoted);
  }
  try {
    const platform::SysfsRoot root(dir.path().string());
    const auto kb = api::bad_blocks_of(root, "dax0.0");
    for (std::size_t i = 1; i < kb.ranges.size(); ++i)
      FUZZ_CHECK(kb.ranges[i - 1].end() < kb.ranges[i].offset);
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, quoted);
  }
  return 0;
}
