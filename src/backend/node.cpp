// node backend: anonymous private memory over the whole slot, bound with mbind() to the tier's
// NUMA nodes. The policy is set once on the (MAP_NORESERVE) range; pages are placed by the
// kernel when first touched, so carving an extent is pure arithmetic.
#include <numaif.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "backend/backend.hpp"
#include "platform/mempolicy.hpp"
#include "platform/process.hpp"
#include "tiermem/error.hpp"

#ifndef MPOL_PREFERRED_MANY
#define MPOL_PREFERRED_MANY 5
#endif

namespace tiermem::backend {
namespace {

std::string node_list(const std::vector<unsigned> &nodes) {
  std::string s;
  for (unsigned n : nodes) s += (s.empty() ? "" : ",") + std::to_string(n);
  return s;
}

class NodeBackend final : public Backend {
 public:
  NodeBackend(std::string description, std::byte *slot, std::size_t size, std::size_t span)
      : Backend(Kind::node, std::move(description), kHooks, slot, size), span_(span) {}

  // On the whole mapping, once: the advice is a flag of the mapping (one VMA), so extents
  // carved later get it too, and no extent boundary splits the VMA.
  int set_huge_pages(bool on) noexcept override {
    return platform::advise_huge_pages(base(), span_, on) == 0 ? 0 : -errno;
  }

 private:
  std::size_t span_;  // the mapped slot, at least the capacity
  // Purging anonymous memory is MADV_DONTNEED: the pages go back to the kernel and the range
  // keeps its mbind policy, so the next touch lands on the same nodes again.
  static bool purge(extent_hooks_t *, void *addr, std::size_t, std::size_t offset,
                    std::size_t length, unsigned) {
    return platform::discard_pages(static_cast<std::byte *>(addr) + offset, length) != 0;
  }
  static constexpr extent_hooks_t kHooks{hook_alloc, hook_dalloc, hook_destroy,
                                         hook_commit, hook_decommit, hook_no_purge,
                                         purge,       hook_split,    hook_merge};
};

}  // namespace

std::unique_ptr<Backend> make_node(const std::vector<unsigned> &nodes, NodeMode mode,
                                   std::byte *slot, std::size_t slot_size,
                                   std::uint64_t node_bytes) {
  if (nodes.empty()) throw Error(-EINVAL, "tiermem: a node tier needs at least one NUMA node");
  for (unsigned n : nodes)
    if (!platform::NodeMask::fits(n))
      throw Error(-EINVAL, "tiermem: node " + std::to_string(n) + " is beyond the kernel's largest node number " +
                               std::to_string(platform::NodeMask::kMaxNodes - 1) + "; name an existing node");
  platform::NodeMask mask = platform::NodeMask::of(nodes);
  void *p = ::mmap(slot, slot_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    throw Error(-err, "tiermem: cannot map memory for node " + node_list(nodes) + ": " +
                          std::strerror(err));
  }
  int m = MPOL_BIND;
  if (mode == NodeMode::preferred) m = nodes.size() == 1 ? MPOL_PREFERRED : MPOL_PREFERRED_MANY;
  long rc = platform::mbind(slot, slot_size, m, mask);
  if (rc != 0 && m == MPOL_PREFERRED_MANY && errno == EINVAL) {
    // Kernels before 5.15 lack MPOL_PREFERRED_MANY: prefer the first node.
    m = MPOL_PREFERRED;
    rc = platform::mbind(slot, slot_size, m, platform::NodeMask::of({nodes.front()}));
  }
  if (rc != 0) {
    int err = errno;
    ::mmap(slot, slot_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
           -1, 0);
    throw Error(-err, "tiermem: mbind to node " + node_list(nodes) + " failed: " +
                          std::strerror(err) + "; is the node online and allowed (cpuset)?");
  }
  std::string desc = "node " + node_list(nodes) +
                     (m == MPOL_BIND ? " (MPOL_BIND)"
                                     : m == MPOL_PREFERRED ? " (MPOL_PREFERRED)"
                                                           : " (MPOL_PREFERRED_MANY)");
  // "[anon:tiermem node 0 (MPOL_BIND)]" in /proc/PID/maps where the kernel names mappings.
  platform::name_anon_mapping(slot, slot_size, ("tiermem " + desc).c_str());
  std::size_t capacity = node_bytes != 0 && node_bytes < slot_size ? node_bytes : slot_size;
  return std::make_unique<NodeBackend>(std::move(desc), slot, capacity, slot_size);
}

}  // namespace tiermem::backend
