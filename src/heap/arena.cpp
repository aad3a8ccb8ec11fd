// Arena creation: a backend per tier, wrapped by the extent map, behind a jemalloc arena of
// its own; and the jemalloc settings that apply to the arenas created later.
#include "heap/arena.hpp"

#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "heap/fork.hpp"
#include "heap/heap.hpp"
#include "topology/env.hpp"

namespace tiermem::heap {

std::size_t g_small_max = 14336;  // jemalloc 5.3's default; set_small_max() confirms it

namespace {

using Source = topology::TierTarget::Source;

std::atomic<BadRangeSource> g_bad_source{nullptr};

// Repair mode (owner.hpp) maps a fresh page where a node tier's page died and binds it
// as the rest of the tier is; devdax and emulated memory cannot be replaced that way.
void set_repair_nodes(tm_tier &t, const topology::TierTarget &g) {
  if (g.source != Source::nodes) return;
  for (unsigned n : g.nodes) {
    if (!t.node_mask.set(n)) return;  // beyond the mask: leave it unrepairable
  }
  t.repairable = true;
}

template <class T>
void arena_ctl(unsigned arena, const char *leaf, T value) {
  std::string name = "arena." + std::to_string(arena) + "." + leaf;
  tmje_mallctl(name.c_str(), nullptr, nullptr, &value, sizeof value);
}

}  // namespace

std::vector<std::size_t> read_small_classes() {
  unsigned nbins = 0;
  std::size_t sz = sizeof nbins;
  if (tmje_mallctl("arenas.nbins", &nbins, &sz, nullptr, 0) != 0 || nbins == 0) return {};
  std::vector<std::size_t> sizes(nbins);
  for (unsigned i = 0; i < nbins; ++i) {
    std::string name = "arenas.bin." + std::to_string(i) + ".size";
    sz = sizeof sizes[i];
    if (tmje_mallctl(name.c_str(), &sizes[i], &sz, nullptr, 0) != 0 || sizes[i] == 0) return {};
  }
  return sizes;
}

void set_small_max(const std::vector<std::size_t> &classes) noexcept {
  if (!classes.empty()) g_small_max = classes.back();
}

void set_bad_range_source(BadRangeSource source) noexcept { g_bad_source.store(source); }

std::unique_ptr<backend::Backend> open_backend(const topology::TierTarget &g, std::byte *slot,
                                               std::size_t size) {
  switch (g.source) {
    case Source::nodes:
      // Never more than the nodes hold: beyond that MPOL_BIND would mean the OOM killer,
      // not ENOMEM.
      return backend::make_node(g.nodes, backend::NodeMode::bind, slot, size, g.node_bytes);
    case Source::devdax: {
      BadRangeSource known_bad = g_bad_source.load();
      return backend::make_devdax(g.dax_path, g.size, g.align, slot, size,
                                  known_bad != nullptr ? known_bad(g.dax_path)
                                                       : std::vector<platform::ByteRange>{});
    }
    case Source::emulated:
      return backend::make_emulated(g.emulated_name, g.size, slot, size);
  }
  throw Error(-EINVAL, "tiermem: unknown backend");
}

// ExtentMap tells jemalloc's metadata requests from extents by their shape (see
// extent_map.hpp); that holds only with retained growth and cache-oblivious large extents.
// Without them a 2 MiB-aligned block could land in DRAM, so refuse rather than guess.
static void check_metadata_shape() {
  for (const char *opt : {"opt.retain", "opt.cache_oblivious"}) {
    bool on = false;
    std::size_t sz = sizeof on;
    if (tmje_mallctl(opt, &on, &sz, nullptr, 0) != 0 || !on) {
      throw Error(-ENOTSUP, std::string("tiermem: the heap's jemalloc runs with ") + (opt + 4) +
                                ":false, so its metadata cannot be kept off the tiers; remove "
                                "that setting from the jemalloc configuration");
    }
  }
}

static unsigned create_arena(tm_tier &tier, const topology::TierTarget &g) {
  void *hooks = tier.extents->hooks();
  unsigned arena = 0;
  std::size_t sz = sizeof arena;
  if (int rc = tmje_mallctl("arenas.create", &arena, &sz, &hooks, sizeof hooks); rc != 0) {
    throw Error(-rc, "tiermem: jemalloc refused an arena for '" + g.name + "': " +
                         std::strerror(rc));
  }
  // Grow a small tier in steps it can satisfy: jemalloc's retained growth asks for ever
  // larger extents and fails once the next step no longer fits.
  std::size_t cap = tier.backend->capacity();
  if (cap < (std::size_t{1} << 33)) {
    arena_ctl<std::size_t>(arena, "retain_grow_limit", std::max<std::size_t>(cap / 8, 2u << 20));
  }
  return arena;
}

void make_arena(tm_tier &tier, const topology::TierTarget &g) {
  check_metadata_shape();
  // From where the backend begins in the slot (see tier_offset) to the slot's end.
  std::byte *base = tier.backend->base();
  tier.extents = std::make_unique<ExtentMap>(
      base, static_cast<std::size_t>(slot_address(tier.slot) + slot_size() - base),
      tier.backend->hooks());
  set_repair_nodes(tier, g);
  // Two arenas over the one backend (its bump pointer is shared, lock-free): the tier's,
  // and the one only Front refills use (front.hpp). Both keep their extents in the map.
  tier.arena = create_arena(tier, g);
  tier.arena_flags = je::arena(tier.arena);
  tier.front_arena = create_arena(tier, g);
  tier.front_flags = je::arena(tier.front_arena) | je::tcache_none;
  map_front_pages(tier);
}

namespace {

std::atomic<bool> g_default_decay_chosen{false};

// Dirty pages decay straight to the backend's forced purge: no backend has a lazy purge
// (MADV_FREE would keep the pages counted as the tier's until the kernel is short), so a muzzy
// stage would only delay the purge; 0 sends decayed pages on at once, -1 keeps them.
void set_decay(const std::string &prefix, long ms) {
  if (ms < -1 || ms > topology::env::kMaxDecayMs)
    throw Error(-EINVAL, "tiermem: decay " + std::to_string(ms) +
                             " ms is out of range; use -1 (never), 0 (at once) or milliseconds up to " +
                             std::to_string(topology::env::kMaxDecayMs));
  ssize_t dirty = ms, muzzy = ms < 0 ? -1 : 0;
  if (tmje_mallctl((prefix + "dirty_decay_ms").c_str(), nullptr, nullptr, &dirty, sizeof dirty) != 0 ||
      tmje_mallctl((prefix + "muzzy_decay_ms").c_str(), nullptr, nullptr, &muzzy, sizeof muzzy) != 0)
    throw Error(-EINVAL, "tiermem: jemalloc refused a decay of " + std::to_string(ms) +
                             " ms; use -1 (never), 0 (at once) or fewer milliseconds");
}

}  // namespace

void set_default_decay_ms(long ms) {
  register_fork_handlers();  // before this first jemalloc call initialises jemalloc
  // "arenas.*_decay_ms" are the defaults jemalloc gives arenas created afterwards.
  set_decay("arenas.", ms);
  g_default_decay_chosen.store(true, std::memory_order_relaxed);
}

bool default_decay_chosen() noexcept { return g_default_decay_chosen.load(std::memory_order_relaxed); }

void set_decay_ms(tm_tier *tier, long ms) {
  for (unsigned a : {tier->arena, tier->front_arena}) set_decay("arena." + std::to_string(a) + ".", ms);
}

long decay_ms(const tm_tier *tier) {
  ssize_t v = 0;
  std::size_t sz = sizeof v;
  const std::string name = "arena." + std::to_string(tier->arena) + ".dirty_decay_ms";
  if (tmje_mallctl(name.c_str(), &v, &sz, nullptr, 0) != 0) return -1;
  return static_cast<long>(v);
}

void decay_now(tm_tier *tier, bool all) {
  // "decay" gives back what the decay time says is due by now; "purge" everything unused.
  for (unsigned a : {tier->arena, tier->front_arena}) {
    const std::string name = "arena." + std::to_string(a) + (all ? ".purge" : ".decay");
    tmje_mallctl(name.c_str(), nullptr, nullptr, nullptr, 0);
  }
}

}  // namespace tiermem::heap
