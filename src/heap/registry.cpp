// The registry of tiers: which memory (a TierTarget's key) is served by which tier, the slot
// each tier takes, and opening the heap itself before its first tier. Tiers are never closed:
// they must stay valid while other threads and atexit handlers still allocate and free during
// process exit.
#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "heap/arena.hpp"
#include "heap/fork.hpp"
#include "heap/heap.hpp"
#include "heap/publish.hpp"

namespace tiermem::heap {
namespace {

struct Registry {
  std::mutex mu;  // guards all below, and opening the heap
  bool opened = false;
  std::map<std::string, tm_tier *> by_key;
  std::vector<std::unique_ptr<tm_tier>> owned;
  unsigned next_slot = 0;
};

Registry &registry() {
  static Registry *r = std::make_unique<Registry>().release();  // immortal, see above
  return *r;
}

}  // namespace

void registry_after_fork_child() noexcept {
  // A thread that vanished in the fork may have held the registry lock.
  new (&registry().mu) std::mutex();
}

void open(std::uint64_t largest_tier) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.opened) return;
  register_fork_handlers();  // before read_small_classes() initialises jemalloc
  const std::vector<std::size_t> classes = read_small_classes();
  set_small_max(classes);
  read_front_classes(classes);
  unsigned count = 0, shift = 0, min_shift = 0;
  plan_slots(largest_tier, count, shift, min_shift);
  reserve_slots(count, shift, min_shift);
  publish_open();  // the statistics `tiermem stat` reads (publish.hpp)
  r.opened = true;
}

tm_tier *open_tier(const topology::TierTarget &g) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (auto it = r.by_key.find(g.key); it != r.by_key.end()) return it->second;
  if (!r.opened) {
    throw Error(-EINVAL, "tiermem: cannot open '" + g.name + "': the heap is not open; "
                         "open it (heap::open) first");
  }
  if (r.next_slot >= slot_count()) {
    throw Error(-ENOSPC, "tiermem: cannot open '" + g.name + "': all " +
                             std::to_string(slot_count()) + " tier slots are in use");
  }
  unsigned slot = r.next_slot;
  auto tier = std::make_unique<tm_tier>();
  tier->slot = slot;
  tier->name = g.name;
  tier->kind = g.kind;
  tier->rank = g.rank;
  const std::size_t off =
      tier_offset(slot, g.source == topology::TierTarget::Source::nodes ? g.node_bytes : g.size);
  tier->backend = open_backend(g, slot_address(slot) + off, slot_size() - off);
  ++r.next_slot;  // a slot whose arena failed stays burnt: jemalloc may have used part of it
  make_arena(*tier, g);
  tm_tier *t = tier.get();
  r.owned.push_back(std::move(tier));
  r.by_key.emplace(g.key, t);
  g_slots.tier[slot].store(t, std::memory_order_release);
  publish_tier(slot, t->name, t->kind, t->rank, t->backend->capacity());
  return t;
}

std::vector<tm_tier *> active_tiers() {
  std::vector<tm_tier *> out;
  for (auto &slot : g_slots.tier) {
    if (tm_tier *t = slot.load(std::memory_order_acquire)) out.push_back(t);
  }
  return out;
}

}  // namespace tiermem::heap
