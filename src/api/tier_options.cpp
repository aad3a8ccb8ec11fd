#include "api/tier_options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "platform/mempolicy.hpp"
#include "tiermem/error.hpp"
#include "topology/env.hpp"

namespace tiermem::api {
namespace {

std::string no_thp_line(platform::ThpMode mode) {
  return std::string("tiermem: transparent huge pages are '") + platform::thp_mode_name(mode) +
         "' on this machine (/sys/kernel/mm/transparent_hugepage/enabled), so the huge page "
         "switch has no effect; write 'madvise' there as root to use it";
}

}  // namespace

void apply_env_before_open() {
  if (heap::default_decay_chosen()) return;
  if (const auto ms = topology::env::decay_ms()) heap::set_default_decay_ms(*ms);
}

void set_huge_pages(tm_tier *tier, bool on) {
  if (tier->backend->kind() != backend::Kind::node)
    throw Error(-ENOTSUP, "tiermem: tier '" + tier->name + "' is not a node tier; transparent huge "
                          "pages apply to node tiers only (a devdax tier maps in its device's "
                          "align units already)");
  if (on && tier->backend->migrating())
    throw Error(-EBUSY, "tiermem: tier '" + tier->name + "' is the SLOW tier of an auto() policy: its "
                        "writes are tracked per 4 KiB page, so it takes no transparent huge pages; "
                        "leave huge pages off for it");
  const platform::ThpMode mode = platform::thp_mode();
  if (mode == platform::ThpMode::never || mode == platform::ThpMode::absent)
    throw Error(-ENOTSUP, no_thp_line(mode));
  if (int rc = tier->backend->set_huge_pages(on); rc != 0)
    throw Error(rc, std::string("tiermem: madvise(") + (on ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE") +
                        ") on tier '" + tier->name + "' failed: " + std::strerror(-rc));
}

void apply_env_after_open(tm_tier *tier) {
  const std::optional<bool> thp = topology::env::thp();  // a bad value throws, every time
  if (!thp || tier->backend->kind() != backend::Kind::node) return;
  static std::mutex mu;
  static std::vector<const tm_tier *> done;
  std::lock_guard<std::mutex> lock(mu);
  if (std::find(done.begin(), done.end(), tier) != done.end()) return;
  done.push_back(tier);
  const platform::ThpMode mode = platform::thp_mode();
  if (mode == platform::ThpMode::never || mode == platform::ThpMode::absent) {
    static bool told = false;  // one line per process, however many tiers
    if (!told) std::fprintf(stderr, "%s (TIERMEM_THP)\n", no_thp_line(mode).c_str());
    told = true;
    return;
  }
  set_huge_pages(tier, *thp);
}

}  // namespace tiermem::api
