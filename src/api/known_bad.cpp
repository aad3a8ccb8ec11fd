#include "api/known_bad.hpp"

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "heap/heap.hpp"
#include "platform/sysfs.hpp"
#include "api/admin.hpp"
#include "topology/dax.hpp"
#include "tiermem/error.hpp"

namespace tiermem::api {
namespace {

// The device's known bad blocks from this machine's sysfs. A list that cannot be read for
// lack of privileges (the physical addresses are root-only) is said once and treated as
// empty; a malformed one fails the tier (tiermem::Error naming the file).
std::vector<platform::ByteRange> known_bad(const std::string &path) {
  const std::string name = path.substr(path.rfind('/') + 1);
  if (name.rfind("dax", 0) != 0) return {};  // the bundled driver's /dev/tmdaxN: no nd region
  try {
    platform::SysfsRoot root("/");
    if (topology::dax_dir(root, name).empty()) return {};
    return bad_blocks_of(root, name).ranges;
  } catch (const Error &e) {
    if (e.code() != -EACCES && e.code() != -EPERM) throw;
    std::fprintf(stderr,
                 "tiermem: %s: its known bad blocks cannot be read (%s); using it unchecked, "
                 "run `tiermem badblocks %s` as root to check\n",
                 path.c_str(), e.what(), name.c_str());
    return {};
  }
}

}  // namespace

void wire_known_bad_blocks() noexcept { heap::set_bad_range_source(&known_bad); }

}  // namespace tiermem::api
